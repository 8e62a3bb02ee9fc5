"""The public kernels at their boundary: negative axes, refused inputs, extreme values, exact 0/1."""

import numpy as np
import pytest

from mixkit import blend, box_mask, mask_mix, paste
from mixkit.kernels import _reference

torch = pytest.importorskip("torch")

X = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
P = np.array([1, 0])


def test_every_kernel_gives_the_same_result_for_negative_and_positive_axes():
    start, stop = np.array([[1, 2], [0, 1]]), np.array([[3, 4], [2, 5]])
    assert np.array_equal(paste(X, P, start, stop, (-2, -1)), paste(X, P, start, stop, (2, 3)))
    assert np.array_equal(paste(X, P, start[:, :1], stop[:, :1], (-1,)), paste(X, P, start[:, :1], stop[:, :1], (3,)))
    m = np.random.default_rng(0).random((2, 4, 5))
    assert np.array_equal(mask_mix(X, P, m, (-2, -1)), mask_mix(X, P, m, (2, 3)))
    assert np.array_equal(mask_mix(X, P, m, (2, -1)), mask_mix(X, P, m, (2, 3)))
    mt = np.transpose(m, (0, 2, 1))  # sizes follow the order of the axes given
    assert np.array_equal(mask_mix(X, P, mt, (-1, 2)), mask_mix(X, P, m, (2, 3)))
    assert np.array_equal(box_mask(X.shape, (-2, -1), start, stop), box_mask(X.shape, (2, 3), start, stop))


def test_paste_with_negative_axes_pastes_where_the_boxes_say():
    out = paste(X, P, np.array([[1, 2], [0, 0]]), np.array([[3, 4], [0, 0]]), (-2, -1))
    ref = X.copy()
    ref[0, :, 1:3, 2:4] = X[1, :, 1:3, 2:4]
    assert np.array_equal(out, ref)


def test_paste_on_a_2d_batch_with_axis_minus_one():
    x = np.arange(12, dtype=np.float64).reshape(2, 6)
    out = paste(x, P, np.array([[1], [0]]), np.array([[3], [0]]), (-1,))
    assert np.array_equal(out, np.array([[0, 7, 8, 3, 4, 5], [6, 7, 8, 9, 10, 11]], dtype=np.float64))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"partner": np.array([0, 2])}, ValueError, r"partner indices must lie in \[0, 2\).*got 2"),
        ({"partner": np.array([0, -1])}, ValueError, r"partner indices must lie in \[0, 2\)"),
        ({"partner": np.array([1.0, 0.0])}, TypeError, "partner must hold integer indices, got dtype float64"),
        ({"partner": np.array([1, 0, 0])}, ValueError, r"partner must have shape \(2,\), got \(3,\)"),
        ({"lam": np.array([0.5, 1.5])}, ValueError, r"lam must lie in \[0, 1\].*got 1.5"),
        ({"lam": np.array([0.5, np.nan])}, ValueError, r"lam must lie in \[0, 1\].*got nan"),
        ({"lam": np.array([0.5])}, ValueError, r"lam must have shape \(2,\)"),
    ],
)
def test_blend_refuses_bad_plans(kwargs, error, match):
    args = {"partner": P, "lam": np.array([0.5, 0.5]), **kwargs}
    with pytest.raises(error, match=match):
        blend(X, args["partner"], args["lam"])


@pytest.mark.parametrize(
    ("axes", "start", "stop", "error", "match"),
    [
        ((0, 1), [[0, 0]] * 2, [[1, 1]] * 2, ValueError, "include the batch axis 0"),
        ((1, -3), [[0, 0]] * 2, [[1, 1]] * 2, ValueError, "repeat an axis"),
        ((4,), [[0]] * 2, [[1]] * 2, ValueError, "axis 4 is out of range"),
        ((-1,), [[0]] * 2, [[6]] * 2, ValueError, r"0 <= start <= stop <= the axis size \(5,\)"),
        ((-1,), [[3]] * 2, [[2]] * 2, ValueError, "0 <= start <= stop"),
        ((-1,), [[0.0]] * 2, [[2.0]] * 2, TypeError, "start must hold integer indices"),
        ((-2, -1), [[0]] * 2, [[2]] * 2, ValueError, r"start must have shape \(2, 2\)"),
    ],
)
def test_paste_refuses_bad_boxes(axes, start, stop, error, match):
    with pytest.raises(error, match=match):
        paste(X, P, np.array(start), np.array(stop), axes)


def test_mask_mix_refuses_bad_masks():
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 4, 5\), got \(2, 5, 4\)"):
        mask_mix(X, P, np.ones((2, 5, 4)), (2, 3))
    with pytest.raises(ValueError, match=r"mask must lie in \[0, 1\]"):
        mask_mix(X, P, np.full((2, 4, 5), 2.0), (2, 3))


def test_out_must_match_and_be_writable():
    with pytest.raises(ValueError, match="out must be an array like x"):
        blend(X, P, np.array([0.5, 0.5]), out=np.empty((2, 3, 4, 5), np.float64))
    ro = X.copy()
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        blend(ro, P, np.array([0.5, 0.5]), out=ro)


def test_nothing_is_written_before_the_checks_pass():
    x = X.copy()
    with pytest.raises(ValueError):
        blend(x, np.array([1, 5]), np.array([0.5, 0.5]), out=x)
    assert np.array_equal(x, X)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.int32, np.uint32, np.int8, np.uint8])
def test_integer_extremes_never_overflow(dtype):
    info = np.iinfo(dtype)
    x = np.array([[info.max, info.min, info.max], [info.max, info.min, info.min]], dtype=dtype)
    out = blend(x, np.array([1, 0]), np.array([0.5, 0.25]))
    assert out[0, 0] == info.max and out[0, 1] == info.min  # a value blended with itself is itself
    assert out[1, 0] == info.max and out[1, 1] == info.min
    lo, hi = np.minimum(x, x[[1, 0]]), np.maximum(x, x[[1, 0]])
    assert np.all(out >= lo) and np.all(out <= hi)


@pytest.mark.parametrize("make", [np.array, torch.tensor])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_extremes_blend_without_overflow(make, dtype):
    big = float(np.finfo(dtype).max) * 0.9
    x = make(np.array([[big, -big], [-big, big]], dtype=dtype))
    out = blend(x, np.array([1, 0]), np.array([0.5, 0.5]))
    assert np.all(np.isfinite(np.asarray(out))) and np.allclose(np.asarray(out), 0.0)


@pytest.mark.parametrize("make", [np.array, torch.tensor])
def test_exact_weights_never_take_inf_or_nan_from_the_unused_source(make):
    x = np.array([[1.0, 2.0, 3.0], [np.inf, np.nan, -np.inf]], dtype=np.float32)
    xt = make(x)
    out = np.asarray(blend(xt, np.array([1, 1]), np.array([1.0, 1.0])))
    assert np.array_equal(out[0], x[0])
    soft = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])  # weight of own data per element
    out = np.asarray(mask_mix(xt, np.array([1, 0]), soft, (1,)))
    assert out[0, 0] == 1.0 and out[0, 2] == 3.0 and np.isnan(out[0, 1])
    ref = np.asarray(_reference.mask_mix(xt, np.array([1, 0]), soft, (1,)))
    assert np.array_equal(out, ref, equal_nan=True)


def test_self_partner_and_lam_one_rows_are_copied_exactly():
    x = np.random.default_rng(1).normal(size=(3, 7)).astype(np.float32) * 1e30
    out = blend(x, np.array([0, 2, 1]), np.array([0.3, 1.0, 1.0]))
    assert np.array_equal(out, x)


def test_plan_constructors_refuse_what_the_kernels_refuse():
    from mixkit import BoxPlan, MaskPlan, MixPlan

    with pytest.raises(TypeError, match="partner must hold integers, got dtype float64"):
        MixPlan(partner=np.array([1.0, 0.0]), lam=np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"partner indices must lie in \[0, 2\)"):
        MixPlan(partner=np.array([2, 0]), lam=np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"lam must lie in \[0, 1\]"):
        MixPlan(partner=np.array([1, 0]), lam=np.array([0.5, np.nan]))
    box = {"partner": [1, 0], "lam": [1.0, 1.0], "start": [[0, 0]] * 2, "stop": [[1, 1]] * 2, "sizes": (4, 5)}
    with pytest.raises(ValueError, match="include the batch axis 0"):
        BoxPlan(axes=(0, 1), **box)
    with pytest.raises(ValueError, match="repeat an axis"):
        BoxPlan(axes=(-1, -1), **box)
    with pytest.raises(ValueError, match="0 <= start <= stop <= size"):
        BoxPlan(axes=(-2, -1), **{**box, "stop": [[5, 1]] * 2})
    with pytest.raises(ValueError, match="repeat an axis"):
        MaskPlan(partner=[1, 0], lam=[1.0, 1.0], axes=(2, 2), mask=np.ones((2, 4, 4)))


def test_box_plan_with_negative_axes_changes_as_many_elements_as_its_lam_says():
    from mixkit import BoxPlan
    from mixkit.methods._base import apply_plan

    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    plan = BoxPlan(partner=[1, 0], lam=[1 - 4 / 20, 1.0], axes=(-2, -1), sizes=(4, 5),
                   start=[[1, 1], [0, 0]], stop=[[3, 3], [0, 0]])
    out = apply_plan(plan, x)
    changed = (out != x).reshape(2, -1).mean(axis=1)
    np.testing.assert_allclose(changed, 1 - plan.lam)
