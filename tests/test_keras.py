"""Keras 3 layers on the backend chosen by KERAS_BACKEND, and JAX arrays in the core kernels.

Run once per backend (``make test-integrations`` does all three)::

    KERAS_BACKEND=tensorflow python -m pytest tests/test_keras.py
    KERAS_BACKEND=jax python -m pytest tests/test_keras.py
    KERAS_BACKEND=torch python -m pytest tests/test_keras.py

Skipped where keras is not installed (the default test environment).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras import ops

import mixkit
from mixkit.keras import CutMix, MixUp

BACKEND = keras.backend.backend()
C = 5
MixUp3 = functools.partial(MixUp, k=3)  # n-way MixUp: each sample and two partners
LAYERS = pytest.mark.parametrize("Layer", [MixUp, CutMix, MixUp3], ids=["MixUp", "CutMix", "MixUp-k3"])


def batch(b=8, shape=(6, 6, 3), dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(b,) + shape).astype(dtype)
    y = np.eye(C, dtype="float32")[np.arange(b) % C]
    return x, y


def numpy(t):
    if BACKEND == "torch":  # keras' convert_to_numpy warns under NumPy 2 on this backend
        return t.detach().cpu().numpy()
    return np.asarray(ops.convert_to_numpy(t))


@pytest.mark.parametrize("layer", [MixUp(1.0, seed=1), MixUp(0.4, lam_mode="sample", seed=1),
                                   CutMix(1.0, seed=1), CutMix(1.0, lam_mode="sample", seed=1)],
                         ids=lambda layer: f"{type(layer).__name__}-{layer.lam_mode}")
def test_labels_are_probabilities_and_match_the_inputs(layer):
    x, y = batch()
    xm, ym = layer(x, y)
    xm, ym = numpy(xm), numpy(ym)
    assert xm.shape == x.shape and ym.shape == y.shape
    np.testing.assert_allclose(ym.sum(1), 1.0, rtol=1e-5)
    assert ym.min() >= 0
    # samples are distinct constant-label rows: the own weight of row i is ym[i, i % C] (classes of
    # a pair may coincide, then the row is a single class)
    for i in range(len(x)):
        own = ym[i, i % C]
        if isinstance(layer, CutMix):
            kept = np.mean(np.all(xm[i] == x[i], axis=-1))
            if own < 1.0 - 1e-6:
                assert kept == pytest.approx(own, abs=1e-6) or np.sum(ym[i] > 0) == 1
        else:
            assert xm[i].min() >= 0 and xm[i].max() <= 255


def test_mixup_rows_are_the_blend_of_a_sample_and_its_partner():
    x, _ = batch(b=6)
    y = np.eye(6, dtype="float32")  # own class per sample: the labels name the partner
    xm, ym = MixUp(1.0, lam_mode="sample", seed=3)(x, y)
    xm, ym = numpy(xm), numpy(ym)
    for i in range(6):
        others = [k for k in np.flatnonzero(ym[i] > 1e-7) if k != i]
        j = others[0] if others else i
        lam = ym[i, i]
        np.testing.assert_allclose(xm[i], lam * x[i] + (1 - lam) * x[j], rtol=1e-5, atol=1e-3)


def test_cutmix_pixels_come_from_the_sample_or_its_partner_and_lam_is_the_kept_fraction():
    x, _ = batch(b=6, shape=(10, 12, 3))
    y = np.eye(6, dtype="float32")
    for fmt, xx in (("channels_last", x), ("channels_first", np.transpose(x, (0, 3, 1, 2)))):
        xm, ym = CutMix(1.0, lam_mode="sample", seed=4, data_format=fmt)(xx, y)
        xm, ym = numpy(xm), numpy(ym)
        caxis = -1 if fmt == "channels_last" else 1
        for i in range(6):
            others = [k for k in np.flatnonzero(ym[i] > 1e-7) if k != i]
            j = others[0] if others else i
            own = np.all(xm[i] == xx[i], axis=caxis - 1 if caxis == 1 else caxis)
            partner = np.all(xm[i] == xx[j], axis=caxis - 1 if caxis == 1 else caxis)
            assert np.all(own | partner)
            if j != i:
                assert own.mean() == pytest.approx(ym[i, i], abs=1e-6)


def test_integer_images_stay_integer_and_round():
    x, y = batch(dtype="uint8")
    xm, _ = MixUp(1.0, seed=0)(x, y)
    assert keras.backend.standardize_dtype(xm.dtype) == "uint8"
    xm2, _ = CutMix(1.0, seed=0)(x, y)
    assert keras.backend.standardize_dtype(xm2.dtype) == "uint8"


def test_class_indices_with_num_classes_and_training_false():
    x, _ = batch()
    idx = np.arange(8) % C
    xm, ym = MixUp(seed=0, num_classes=C)(x, idx)
    assert numpy(ym).shape == (8, C) and numpy(xm).shape == x.shape
    onehot = np.eye(C, dtype="float32")[idx]
    same_x, same_y = MixUp(seed=0)(x, onehot, training=False)
    np.testing.assert_array_equal(numpy(same_x), x)
    np.testing.assert_array_equal(numpy(same_y), onehot)
    assert MixUp(seed=0)(x).shape == x.shape  # inputs alone


def test_same_seed_same_output_and_the_stream_advances():
    x, y = batch()
    a = numpy(MixUp(1.0, lam_mode="sample", seed=7)(x, y)[1])
    layer = MixUp(1.0, lam_mode="sample", seed=7)
    b = numpy(layer(x, y)[1])
    c = numpy(layer(x, y)[1])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_inside_a_functional_model():
    x, _ = batch(b=16, shape=(4, 4, 3))
    y = np.eye(C, dtype="float32")[np.arange(16) % C]
    images = keras.Input((4, 4, 3))
    labels = keras.Input((C,))
    mixed, targets = MixUp(0.4, seed=0)(images, labels)
    logits = keras.layers.Dense(C)(keras.layers.Flatten()(mixed))
    model = keras.Model([images, labels], [logits, targets])
    out = model([x / 255.0, y], training=True)
    assert numpy(out[0]).shape == (16, C) and numpy(out[1]).shape == (16, C)
    assert not np.array_equal(numpy(out[1]), y)  # mixed in training
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    value = float(numpy(loss(out[1], out[0])))
    assert np.isfinite(value) and value > 0
    same = model([x / 255.0, y], training=False)
    np.testing.assert_array_equal(numpy(same[1]), y)  # left alone at inference


def test_trains_with_fit_inside_a_model_and_draws_new_plans_each_step():
    class Trainer(keras.Model):
        def __init__(self):
            super().__init__()
            self.mix = CutMix(1.0, seed=0)
            self.flat = keras.layers.Flatten()
            self.net = keras.layers.Dense(C)

        def call(self, inputs, training=False):
            x, y = inputs
            x, y = self.mix(x, y, training=training)
            logits = self.net(self.flat(x))
            self.add_loss(ops.mean(keras.losses.categorical_crossentropy(y, logits, from_logits=True)))
            return logits

    rng = np.random.default_rng(0)
    x = rng.random((32, 6, 6, 3)).astype("float32")
    y = np.eye(C, dtype="float32")[rng.integers(0, C, 32)]
    model = Trainer()
    model.compile(optimizer="sgd")
    history = model.fit((x, y), epochs=2, batch_size=8, verbose=0)
    assert all(np.isfinite(float(v)) for v in history.history["loss"])
    state = model.mix.seed_generator.state
    counter = np.array(state.numpy()) if BACKEND == "tensorflow" else numpy(state.value)
    assert counter[1] >= 8  # the seed generator moved on at each of the 8 steps


def test_get_config_round_trip():
    layer = CutMix(0.7, lam_mode="sample", seed=3, num_classes=4, data_format="channels_first")
    clone = CutMix.from_config(layer.get_config())
    assert (clone.alpha, clone.lam_mode, clone.seed, clone.num_classes, clone.data_format) == (
        0.7, "sample", 3, 4, "channels_first")


# ---- errors -----------------------------------------------------------------------------------


def test_labels_that_are_not_probabilities_are_refused():
    x, _ = batch(b=4)
    with pytest.raises(ValueError, match=r"one-hot or probability rows .* row 0 is \[2.0, 0.0"):
        MixUp(seed=0)(x, np.array([[2, 0], [0, 1], [1, 0], [0, 1]], dtype="float32"))
    with pytest.raises(ValueError, match=r"look like class indices; .* pass num_classes=C"):
        MixUp(seed=0)(x, np.arange(4))
    with pytest.raises(ValueError, match=r"shape \(batch_size, num_classes\), but got a tensor of shape \(4, 2, 1\)"):
        MixUp(seed=0)(x, np.zeros((4, 2, 1), "float32"))
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 3\); got values from 0 to 7"):
        MixUp(seed=0, num_classes=3)(x, np.array([0, 1, 2, 7]))
    with pytest.raises(ValueError, match="x has batch size 4 but the labels have 3 rows"):
        MixUp(seed=0)(x, np.eye(3, dtype="float32"))


def test_bad_arguments():
    with pytest.raises(ValueError, match="alpha must be > 0"):
        MixUp(0.0)
    with pytest.raises(ValueError, match="lam_mode must be one of 'batch', 'sample'; got 'pixel'"):
        MixUp(lam_mode="pixel")
    with pytest.raises(ValueError, match="data_format must be one of"):
        CutMix(data_format="NHWC")
    with pytest.raises(ValueError, match="seed must be a non-negative int or None"):
        MixUp(seed=-1)
    with pytest.raises(ValueError, match="CutMix takes image batches of 4 dimensions"):
        CutMix(seed=0)(np.zeros((2, 3), "float32"), np.eye(2, dtype="float32"))


@LAYERS
def test_step_seeds_depend_on_seed_and_step_only(Layer):
    x, y = batch(b=8)
    layer = Layer(1.0, lam_mode="sample", seed=5)
    state = numpy(layer.seed_generator.state * 1).copy()
    a = [numpy(t) for t in layer(x, y, step=3)]
    b = [numpy(t) for t in layer(x, y, step=3)]
    c = [numpy(t) for t in Layer(1.0, lam_mode="sample", seed=5)(x, y, step=3)]  # a fresh layer, same seed
    d = [numpy(t) for t in layer(x, y, step=4)]
    other = [numpy(t) for t in Layer(1.0, lam_mode="sample", seed=6)(x, y, step=3)]
    for u, v, w in zip(a, b, c):
        np.testing.assert_array_equal(u, v)
        np.testing.assert_array_equal(u, w)
    assert not np.array_equal(a[1], d[1]) and not np.array_equal(a[1], other[1])
    np.testing.assert_array_equal(numpy(layer.seed_generator.state * 1), state)  # the generator is not used
    np.testing.assert_allclose(a[1].sum(1), 1.0, rtol=1e-5)
    assert not np.array_equal(a[0], x)


# ---- backend-specific: tf.data, jax.jit -------------------------------------------------------


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.data pipelines need the TensorFlow backend")
@LAYERS
def test_a_parallel_tf_data_map_with_step_gives_the_same_batches_every_run(Layer):
    import tensorflow as tf

    x, y = batch(b=48, seed=1)

    def run(calls):
        layer = Layer(1.0, lam_mode="sample", seed=0)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).enumerate()
        ds = ds.map(lambda i, b: layer(b[0], b[1], step=i), num_parallel_calls=calls)
        out = list(ds.as_numpy_iterator())
        return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])

    serial = run(1)
    for calls in (tf.data.AUTOTUNE, 6, tf.data.AUTOTUNE):
        xm, ym = run(calls)
        np.testing.assert_array_equal(xm, serial[0])
        np.testing.assert_array_equal(ym, serial[1])
    assert not np.array_equal(serial[0], x)
    np.testing.assert_allclose(serial[1].sum(1), 1.0, rtol=1e-5)




@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.data pipelines need the TensorFlow backend")
def test_in_a_tf_data_pipeline():
    import tensorflow as tf

    x, y = batch(b=12)
    layer = MixUp(1.0, lam_mode="sample", seed=2)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).map(lambda a, b: layer(a, b))
    got = list(ds.as_numpy_iterator())
    assert len(got) == 3
    for xm, ym in got:
        assert xm.shape == (4, 6, 6, 3) and ym.shape == (4, C)
        np.testing.assert_allclose(ym.sum(1), 1.0, rtol=1e-5)
    assert not np.array_equal(got[0][1], got[1][1])


@pytest.mark.skipif(BACKEND != "jax", reason="jax.jit needs the JAX backend")
def test_jax_arrays_in_the_core_kernels_under_jit():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x = np.random.default_rng(0).random((6, 3, 4, 4)).astype("float32")
    methods = [mixkit.MixUp(lam_mode="sample"), mixkit.CutMix(lam_mode="sample")]
    methods += [getattr(mixkit, name)() for name in ("FMix", "GridMix", "SmoothMix", "ResizeMix") if hasattr(mixkit, name)]
    for t in methods:
        plan = t.sample(6, rng=0, shape=x.shape)
        want = mixkit.apply_plan(plan, x)
        got = jax.jit(lambda a, plan=plan: mixkit.apply_plan(plan, a))(jnp.asarray(x))
        assert isinstance(got, jax.Array)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("Layer", [MixUp, CutMix])
@pytest.mark.parametrize("tshape", [(8,), (8, 3)])
def test_continuous_targets_are_mixed_with_the_inputs_weights(Layer, tshape):
    x, _ = batch()
    rng = np.random.default_rng(3)
    y = rng.normal(size=tshape).astype("float32")
    layer = Layer(1.0, lam_mode="sample", seed=4, targets="continuous")
    # the labels' weights, read from a one-hot copy of the same call (same seed and step)
    _, onehot = Layer(1.0, lam_mode="sample", seed=4)(x, np.eye(8, dtype="float32"), step=7)
    xm, ym = layer(x, y, step=7)
    w = numpy(onehot)  # row i: weight of sample j in output i
    expected = w @ (y if y.ndim == 2 else y[:, None])
    assert numpy(ym).shape == tshape
    np.testing.assert_allclose(numpy(ym).reshape(expected.shape), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(numpy(xm), numpy(Layer(1.0, lam_mode="sample", seed=4)(x, step=7)))
    assert layer.get_config()["targets"] == "continuous"
    assert Layer.from_config(layer.get_config()).targets == "continuous"


def test_continuous_targets_bad_inputs():
    x, _ = batch(b=4)
    with pytest.raises(ValueError, match="targets must be one of 'classes', 'continuous'; got 'regression'"):
        MixUp(targets="regression")
    with pytest.raises(ValueError, match="num_classes=3 is a class option, but targets='continuous'"):
        MixUp(num_classes=3, targets="continuous")
    with pytest.raises(ValueError, match="continuous targets hold NaN; every target must be finite"):
        MixUp(seed=0, targets="continuous")(x, np.array([0.0, np.nan, 1.0, 2.0], "float32"))
    with pytest.raises(ValueError, match="continuous targets hold an infinite value"):
        MixUp(seed=0, targets="continuous")(x, np.array([0.0, np.inf, 1.0, 2.0], "float32"))
    with pytest.raises(ValueError, match=r"shape \(batch_size,\) or \(batch_size, D\), but got a tensor of shape \(4, 1, 1\)"):
        MixUp(seed=0, targets="continuous")(x, np.zeros((4, 1, 1), "float32"))
    with pytest.raises(ValueError, match="x has batch size 4 but the targets have 3 rows"):
        MixUp(seed=0, targets="continuous")(x, np.zeros(3, "float32"))


# ---- n-way MixUp (k >= 3) --------------------------------------------------------------------


def nway_plan(layer, b, step):
    """The partners ``(B, k - 1)`` and weights ``(B, k)`` of ``layer(x, y, step=step)``, drawn in the
    order the call draws them (the permutations, then the weights) from the same step seeds."""
    seeds = layer._seeds(step)
    partner = numpy(layer._partner(b, seeds))
    return partner, numpy(layer._weights(b, seeds))


def dense_weights(partner, weights):
    """Row i: the total weight of sample j in output i (a partner may be the sample or repeat)."""
    b, k = weights.shape
    sources = np.concatenate([np.arange(b)[:, None], partner], axis=1)
    out = np.zeros((b, b))
    np.add.at(out, (np.repeat(np.arange(b), k), sources.ravel()), weights.ravel())
    return out


@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
def test_k2_is_the_two_way_layer(lam_mode):
    x, y = batch()
    for step in (None, 3):
        default, two = MixUp(0.7, lam_mode=lam_mode, seed=4), MixUp(0.7, lam_mode=lam_mode, seed=4, k=2)
        for _ in range(2):  # the generator advances alike
            for u, v in zip(default(x, y, step=step), two(x, y, step=step)):
                np.testing.assert_array_equal(numpy(u), numpy(v))
    assert two.get_config()["k"] == 2 == MixUp().k


@pytest.mark.parametrize("lam_mode", ["batch", "sample"])
@pytest.mark.parametrize("k", [3, 5])
def test_nway_outputs_are_the_weights_applied_to_the_sample_and_its_partners(k, lam_mode):
    b = 8
    x, _ = batch(b=b)
    layer = MixUp(0.5, k=k, lam_mode=lam_mode, seed=2)
    partner, w = nway_plan(layer, b, step=7)
    assert partner.shape == (b, k - 1) and w.shape == (b, k)
    for j in range(k - 1):  # each column an independent permutation of the batch
        np.testing.assert_array_equal(np.sort(partner[:, j]), np.arange(b))
    assert all(not np.array_equal(partner[:, 0], partner[:, j]) for j in range(1, k - 1))
    assert w.min() >= 0
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-6)
    if lam_mode == "batch":
        np.testing.assert_array_equal(w, np.broadcast_to(w[0], w.shape))
    else:
        assert len(np.unique(w[:, 0])) == b
    xm, ym = layer(x, np.eye(b, dtype="float32"), step=7)  # own class per sample: labels name the sources
    want = w[:, 0, None, None, None] * x
    for j in range(1, k):
        want = want + w[:, j, None, None, None] * x[partner[:, j - 1]]
    np.testing.assert_allclose(numpy(xm), want, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(numpy(ym), dense_weights(partner, w), rtol=1e-5, atol=1e-6)
    xi, _ = layer(x.astype("uint8"), np.eye(b, dtype="float32"), step=7)  # integers: rounded blend
    assert keras.backend.standardize_dtype(xi.dtype) == "uint8"
    np.testing.assert_array_equal(numpy(xi), np.round(want.astype("float32")).astype("uint8"))


@pytest.mark.parametrize("kind", ["one-hot", "probabilities", "indices", "continuous", "continuous-2d"])
def test_nway_labels_are_the_same_mixture_of_label_rows(kind):
    b = 8
    x, onehot = batch(b=b)
    rng = np.random.default_rng(1)
    options = {"continuous": {"targets": "continuous"}, "continuous-2d": {"targets": "continuous"},
               "indices": {"num_classes": C}}.get(kind, {})
    y = {"one-hot": onehot, "probabilities": rng.dirichlet(np.ones(C), b).astype("float32"),
         "indices": np.arange(b) % C, "continuous": rng.normal(size=b).astype("float32"),
         "continuous-2d": rng.normal(size=(b, 3)).astype("float32")}[kind]
    layer = MixUp(0.5, k=4, lam_mode="sample", seed=3, **options)
    partner, w = nway_plan(layer, b, step=2)
    _, ym = layer(x, y, step=2)
    rows = onehot if kind == "indices" else y
    want = dense_weights(partner, w) @ (rows if rows.ndim == 2 else rows[:, None])
    assert numpy(ym).shape == (want.shape if rows.ndim == 2 else (b,))
    np.testing.assert_allclose(numpy(ym).reshape(want.shape), want, rtol=1e-5, atol=1e-5)
    if not kind.startswith("continuous"):
        np.testing.assert_allclose(numpy(ym).sum(1), 1.0, rtol=1e-5)
        assert numpy(ym).min() >= 0


@pytest.mark.parametrize(("alpha", "k"), [(0.5, 3), (2.0, 5)])
def test_nway_weights_are_dirichlet(alpha, k):
    stats = pytest.importorskip("scipy.stats")
    n = 4000
    w = nway_plan(MixUp(alpha, k=k, lam_mode="sample", seed=0), n, step=1)[1].astype("float64")
    for j in (0, k - 1):  # each weight of Dirichlet(alpha, ..., alpha) is Beta(alpha, (k - 1) alpha)
        assert stats.kstest(w[:, j], stats.beta(alpha, (k - 1) * alpha).cdf).pvalue > 1e-3
    # the control: the two-way Beta(alpha, alpha) is told apart from these draws
    assert stats.kstest(w[:, 0], stats.beta(alpha, alpha).cdf).pvalue < 1e-6
    # the weights of a sample are not independent Betas: they sum to 1 (corr = -1 / (k - 1))
    assert np.corrcoef(w[:, 0], w[:, 1])[0, 1] == pytest.approx(-1.0 / (k - 1), abs=0.05)


def test_nway_a_tiny_alpha_gives_finite_weights():
    # gammas of a tiny alpha underflow to 0 in float32; a row of zeros keeps the sample itself
    b = 200
    layer = MixUp(1e-3, k=3, lam_mode="sample", seed=0)
    w = nway_plan(layer, b, step=1)[1]
    assert np.all(np.isfinite(w)) and w.min() >= 0
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-6)
    x = np.random.default_rng(0).random((b, 4)).astype("float32")
    xm, ym = layer(x, np.eye(b, dtype="float32"), step=1)
    assert np.all(np.isfinite(numpy(xm))) and np.all(np.isfinite(numpy(ym)))
    np.testing.assert_allclose(numpy(ym).sum(1), 1.0, rtol=1e-5)


def test_nway_at_most_64_draws_a_call_so_steps_never_share_seeds():
    layer = MixUp(1.0, k=64, seed=0)
    seeds = layer._seeds(5)
    layer._partner(8, seeds)
    layer._weights(8, seeds)
    assert seeds._draws == 64
    x, y = batch(b=8)
    xm, ym = layer(x, y, step=5)
    np.testing.assert_allclose(numpy(ym).sum(1), 1.0, rtol=1e-5)
    assert numpy(xm).shape == x.shape


def test_nway_get_config_round_trip_and_inside_a_functional_model():
    layer = MixUp(0.3, k=4, lam_mode="sample", seed=2, num_classes=C)
    clone = MixUp.from_config(layer.get_config())
    assert (clone.alpha, clone.k, clone.lam_mode, clone.seed, clone.num_classes) == (0.3, 4, "sample", 2, C)
    x, _ = batch(b=6)
    idx = np.arange(6) % C
    for u, v in zip(layer(x, idx, step=1), clone(x, idx, step=1)):
        np.testing.assert_array_equal(numpy(u), numpy(v))
    images, labels = keras.Input((6, 6, 3)), keras.Input((C,))
    mixed, targets = MixUp(0.4, k=3, seed=0)(images, labels)
    model = keras.Model([images, labels], [mixed, targets])
    onehot = np.eye(C, dtype="float32")[idx]
    out = model([x, onehot], training=True)
    assert numpy(out[0]).shape == x.shape and numpy(out[1]).shape == (6, C)
    np.testing.assert_allclose(numpy(out[1]).sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(numpy(model([x, onehot], training=False)[1]), onehot)


def test_bad_k():
    with pytest.raises(ValueError, match=r"k must lie in \[2, 64\] \(the sample and k - 1 partners\), got 1; k=2 is MixUp"):
        MixUp(k=1)
    with pytest.raises(ValueError, match=r"k must lie in \[2, 64\] .* got 65"):
        MixUp(k=65)
    with pytest.raises(TypeError, match=r"k must be an int \(the number of samples mixed into each output, 2 for MixUp\), got 2.5"):
        MixUp(k=2.5)
    with pytest.raises(TypeError, match="k must be an int .* got True"):
        MixUp(k=True)
    with pytest.raises(TypeError, match=r"CutMix pastes one partner's box .* takes no k \(got k=3\); .* mixkit.keras.MixUp\(alpha, k=...\)"):
        CutMix(k=3)


@pytest.mark.skipif(BACKEND != "jax", reason="jax.jit needs the JAX backend")
def test_nway_layer_under_jax_jit_with_step():
    jax = pytest.importorskip("jax")
    x, y = batch(b=8)
    layer = MixUp(0.5, k=3, lam_mode="sample", seed=1)
    eager = [numpy(t) for t in layer(x, y, step=4)]
    jitted = jax.jit(lambda a, b, s: layer(a, b, step=s))(x, y, 4)
    for u, v in zip(eager, jitted):
        np.testing.assert_allclose(np.asarray(v), u, rtol=1e-5, atol=1e-4)
