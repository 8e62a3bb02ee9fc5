"""The examples of docs/methods.md run as written."""

import pathlib
import re

import pytest

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "methods.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def test_the_page_has_its_examples():
    assert len(BLOCKS) == 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index):
    if "import torch" in BLOCKS[index]:
        torch = pytest.importorskip("torch")
        before = torch.get_num_threads()
        torch.set_num_threads(1)
    try:
        exec(compile(BLOCKS[index], f"docs/methods.md block {index}", "exec"), {"__name__": "docs_example"})
    finally:
        if "import torch" in BLOCKS[index]:
            torch.set_num_threads(before)
