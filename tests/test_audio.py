"""Audio: MixUp at an SNR with loudness kept; band pasting on spectrograms."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mixkit
from mixkit.methods.audio import lam_from_snr, snr_from_lam


def rms(a):
    return np.sqrt((a.reshape(len(a), -1) ** 2).mean(1))


@given(st.integers(2, 6), st.integers(0, 2**16))
def test_mix_is_at_the_planned_snr_and_as_loud_as_the_sample(b, seed):
    rng = np.random.default_rng(seed)
    wave = rng.normal(size=(b, 1, 400)) * rng.uniform(0.01, 5.0, (b, 1, 1))
    t = mixkit.AudioMixUp(snr_db=(-5.0, 10.0), lam_mode="sample", pairing="pairs")
    plan = t.sample(b, rng=seed, shape=wave.shape)
    out, _ = t.apply(plan, wave)
    a, g = plan.gains(wave)
    own = a[:, None, None] * wave
    other = g[:, None, None] * wave[plan.partner]
    np.testing.assert_allclose(own + other, out)
    mixed = plan.partner != np.arange(b)
    snr = 20 * np.log10(rms(own)[mixed] / rms(other)[mixed])
    np.testing.assert_allclose(snr, snr_from_lam(plan.lam[mixed]), atol=1e-9)
    assert np.all((snr >= -5 - 1e-9) & (snr <= 10 + 1e-9))
    np.testing.assert_allclose(rms(own) ** 2 + rms(other) ** 2, rms(wave) ** 2, rtol=1e-9)


def test_snr_lam_round_trip_and_silence():
    np.testing.assert_allclose(snr_from_lam(lam_from_snr([-3.0, 0.0, 12.0])), [-3.0, 0.0, 12.0])
    wave = np.zeros((2, 100))
    wave[1] = np.sin(np.arange(100))
    out, _ = mixkit.AudioMixUp(lam=0.5, pairing="flip")(wave, rng=0)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0], np.sqrt(0.5) * wave[1])


def test_int16_waveform_keeps_dtype():
    wave = (np.random.default_rng(0).normal(size=(4, 256)) * 3000).astype(np.int16)
    out, _ = mixkit.AudioMixUp(snr_db=(0, 6))(wave, rng=0)
    assert out.dtype == np.int16


def test_time_and_frequency_band_pasting():
    spec = np.arange(2 * 1 * 6 * 10, dtype=float).reshape(2, 1, 6, 10)
    t = mixkit.CutMix(axes=(-1,), lam=0.6, pairing="flip")
    out, _ = t(spec, rng=0)
    changed = (out != spec)[0, 0]
    assert changed.any() and np.all(changed.all(axis=0) == changed.any(axis=0))  # full frequency extent
    f = mixkit.CutMix(axes=(-2,), lam=0.5, pairing="flip")
    changed = (f(spec, rng=0)[0] != spec)[0, 0]
    assert changed.any() and np.all(changed.all(axis=1) == changed.any(axis=1))  # full time extent


def test_torch_audio():
    torch = pytest.importorskip("torch")
    wave = torch.randn(3, 2, 64)
    out, y = mixkit.AudioMixUp(snr_db=(0.0, 0.0), pairing="flip", num_classes=3)(wave, torch.tensor([0, 1, 2]), rng=0)
    assert out.dtype == wave.dtype and y.shape == (3, 3)
    torch.testing.assert_close(y[0], torch.tensor([0.5, 0.0, 0.5]))


def test_audio_errors():
    with pytest.raises(TypeError, match="snr_db must be a pair"):
        mixkit.AudioMixUp(snr_db=3.0)
    with pytest.raises(ValueError, match="lo <= hi"):
        mixkit.AudioMixUp(snr_db=(5.0, 1.0))
