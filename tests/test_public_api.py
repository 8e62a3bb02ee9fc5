"""The public surface and the promise that `import mixkit` imports no framework."""

import subprocess
import sys

import mixkit


def test_import_mixkit_imports_no_framework():
    code = (
        "import sys, mixkit; "
        "bad = [m for m in ('torch', 'jax', 'tensorflow', 'keras', 'optuna', 'matplotlib', 'sklearn', "
        "'numba', 'triton') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names():
    core = {
        "MixUp", "CutMix", "OneOf", "Mixer", "mixup", "cutmix", "MixPlan", "BoxPlan", "MaskPlan",
        "MixedTargets", "apply_plan", "blend", "paste", "mask_mix", "box_mask", "as_targets",
        "mix_targets", "one_hot", "smooth_labels", "sample_lam", "sample_partner", "plan_from_dict",
    }
    assert core <= set(mixkit.__all__)
    assert list(mixkit.__all__) == sorted(mixkit.__all__, key=str)
    for name in mixkit.__all__:
        assert hasattr(mixkit, name), name


def test_every_plan_type_and_the_result_type_are_exported():
    plan_types = set(mixkit.plan._PLAN_TYPES.values())
    for cls in plan_types:
        assert getattr(mixkit, cls.__name__, None) is cls, cls.__name__
        assert cls.__name__ in mixkit.__all__
    assert {"LoudnessPlan", "TabularPlan", "LabelPlan", "MosaicPlan", "ResizePlan"} <= {c.__name__ for c in plan_types}
    assert "Mixed" in mixkit.__all__ and issubclass(mixkit.Mixed, tuple)
