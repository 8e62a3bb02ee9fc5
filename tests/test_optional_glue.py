"""The optional glue modules say which extra to install when their framework is missing."""

from __future__ import annotations

import importlib
import importlib.util

import pytest


@pytest.mark.parametrize(
    "module, needs, match",
    [
        ("mixkit.keras", "keras", r"mixkit.keras needs Keras 3 .* pip install 'mixkit\[keras\]'"),
        ("mixkit.torchvision", "torchvision", "mixkit.torchvision needs torchvision .* pip install torchvision"),
    ],
)
def test_a_missing_framework_names_the_install(module, needs, match):
    if importlib.util.find_spec(needs) is not None:
        pytest.skip(f"{needs} is installed here")
    if needs == "torchvision":
        pytest.importorskip("torch")
    with pytest.raises(ImportError, match=match):
        importlib.import_module(module)


def test_mix_dataset_without_datasets_names_the_install():
    if importlib.util.find_spec("datasets") is not None:
        pytest.skip("datasets is installed here")
    import mixkit
    from mixkit.hf import mix_dataset

    with pytest.raises(ImportError, match=r"mix_dataset needs Hugging Face datasets: pip install 'mixkit\[hf\]'"):
        mix_dataset(object(), mixkit.MixUp())
