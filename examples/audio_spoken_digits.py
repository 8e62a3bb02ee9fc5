"""Audio: spoken digits, waveform MixUp at a sampled SNR and band pasting on spectrograms.

NEEDS the ``espeak-ng`` speech synthesiser on the PATH (Debian/Ubuntu:
``apt-get install espeak-ng``); without it the example stops with a one-line message.

The words "zero" .. "nine" are spoken by 48 synthetic speakers (8 English accents x 6 voice
variants, each speaker with its own speed and pitch): 480 clips, synthesised once and cached
(resampled to 8 kHz, placed at a random offset in a 1 s window with a random gain) under
``examples/.cache/``. A small CNN classifies log-mel spectrograms (computed with torch, 40 mel bands
x 101 frames); it is trained on the clips of 12 speakers (120 clips) and tested on the clips of the
other 36 speakers:

- no mixing;
- waveform MixUp, ``mixkit.AudioMixUp(snr_db=(-10, 10))``: two clips mixed at an SNR drawn
  uniformly in dB, loudness kept; ``lam`` is the sample's share of the mixture's power, and the
  labels are mixed with it; the spectrogram is computed from the mixed waveform;
- frequency band pasting, ``mixkit.CutMix(axes=(-2,))`` on the spectrogram: a band of mel bins over
  all frames;
- time band pasting, ``mixkit.CutMix(axes=(-1,))``: a band of frames over all mel bins.

Seeds are paired: for each seed every method gets the same training speakers, initial weights and
batch order. Prints test accuracy, NLL and ECE (15 bins), mean +- std over seeds.

Needs torch, scipy and espeak-ng. Run: ``python examples/audio_spoken_digits.py [--seeds 3]``
(``--train-speakers``, ``--epochs``, ``--lr`` change the defaults 12, 150, 0.01).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ACCENTS = [
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-gb",
]
VARIANTS = ["m1", "m3", "m5", "f1", "f2", "f4"]
RATE, SECONDS = 8000, 1.0
CACHE = Path(__file__).resolve().parent / ".cache" / "spoken_digits_v1.npz"


def synthesize() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(waves (n, 8000) float32, labels (n,), speaker (n,))``, from the cache when present."""
    if CACHE.exists():
        d = np.load(CACHE)
        return d["waves"], d["labels"], d["speaker"]
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    rng = np.random.default_rng(12345)
    length = int(RATE * SECONDS)
    waves, labels, speaker = [], [], []
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "w.wav")
        for s, (accent, variant) in enumerate(itertools.product(ACCENTS, VARIANTS)):
            speed, pitch = int(rng.integers(120, 221)), int(rng.integers(20, 81))
            for k, word in enumerate(WORDS):
                subprocess.run(
                    [
                        "espeak-ng",
                        "-v",
                        f"{accent}+{variant}",
                        "-s",
                        str(speed),
                        "-p",
                        str(pitch),
                        "-w",
                        path,
                        word,
                    ],
                    check=True,
                    capture_output=True,
                )
                sr, a = wavfile.read(path)
                a = a.astype(np.float64) / 32768.0
                if a.ndim > 1:
                    a = a.mean(axis=1)
                a = resample_poly(a, RATE, sr)
                voiced = np.flatnonzero(
                    np.abs(a) > 1e-3
                )  # trim the silence espeak-ng adds around a word
                a = a[voiced[0] : voiced[-1] + 1][:length]
                out = np.zeros(length)
                start = int(rng.integers(0, length - len(a) + 1))
                out[start : start + len(a)] = a * rng.uniform(0.1, 1.0) / (np.abs(a).max() + 1e-9)
                waves.append(out.astype(np.float32))
                labels.append(k)
                speaker.append(s)
    waves, labels, speaker = np.stack(waves), np.array(labels), np.array(speaker)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(CACHE, waves=waves, labels=labels, speaker=speaker)
    print(
        f"synthesised {len(waves)} clips with espeak-ng in {time.time() - t0:.0f} s, cached in {CACHE}"
    )
    return waves, labels, speaker


def check_snr(w: np.ndarray) -> None:
    """Mix a batch with AudioMixUp and measure each mixture's SNR and loudness against the plan."""
    import mixkit
    from mixkit.methods.audio import snr_from_lam

    t = mixkit.AudioMixUp(snr_db=(-10.0, 10.0), lam_mode="sample", num_classes=10)
    plan = t.sample(len(w), rng=0, shape=w.shape)
    mixed = t.apply(plan, w)[0].astype(np.float64)
    a, b = plan.gains(w)
    own, other = a[:, None] * w, b[:, None] * w[plan.partner]
    assert np.allclose(own + other, mixed, atol=1e-6)
    pairs = plan.partner != np.arange(len(w))
    snr = 10 * np.log10((own**2).mean(1)[pairs] / (other**2).mean(1)[pairs])
    rms = np.sqrt((mixed**2).mean(1)) / np.sqrt((w.astype(np.float64) ** 2).mean(1))
    print(
        f"AudioMixUp on {pairs.sum()} mixed clips: measured SNR in [{snr.min():.1f}, {snr.max():.1f}] dB, "
        f"|measured - planned| max {np.abs(snr - snr_from_lam(plan.lam)[pairs]).max():.1e} dB; "
        f"mixture rms / own rms in [{rms[pairs].min():.2f}, {rms[pairs].max():.2f}] "
        "(1 only when the clips are uncorrelated)"
    )


def mel_filterbank(n_mels: int = 40, n_fft: int = 256, rate: int = RATE) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` triangular filters on the mel scale."""

    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(20.0), mel(rate / 2), n_mels + 2))
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid))).astype(
        np.float32
    )


def main() -> None:
    if shutil.which("espeak-ng") is None:
        sys.exit(
            "examples/audio_spoken_digits.py needs espeak-ng on the PATH (apt-get install espeak-ng)."
        )
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--train-speakers", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--lr", type=float, default=1e-2)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from torch import nn

    import mixkit
    from mixkit.torch import soft_cross_entropy

    torch.set_num_threads(1)
    t0 = time.time()
    waves, labels, speaker = synthesize()
    check_snr(waves[:64])
    fb = torch.from_numpy(mel_filterbank())
    window = torch.hann_window(256)

    def logmel(w: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 40, 101)`` log-mel spectrogram of ``(B, 8000)`` waveforms: 32 ms frames, 10 ms hop."""
        spec = (
            torch.stft(w, n_fft=256, hop_length=80, window=window, return_complex=True).abs() ** 2
        )
        return torch.log(fb @ spec + 1e-6).unsqueeze(1)

    norm = {"mean": 0.0, "std": 1.0}  # set from the clean training clips of each run

    def features(w: torch.Tensor) -> torch.Tensor:
        return (logmel(w) - norm["mean"]) / norm["std"]

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1),
                nn.GroupNorm(4, 16),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1),
                nn.GroupNorm(4, 32),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 32, 3, padding=1),
                nn.GroupNorm(4, 32),
                nn.ReLU(),
            )
            self.head = nn.Linear(32, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(x).mean(dim=(2, 3)))

    def ece(prob: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
        conf, pred = prob.max(1), prob.argmax(1)
        which = np.minimum((conf * bins).astype(int), bins - 1)
        return float(
            sum(
                abs((pred[which == b] == y[which == b]).mean() - conf[which == b].mean())
                * (which == b).mean()
                for b in range(bins)
                if (which == b).any()
            )
        )

    def run(method: str, seed: int) -> tuple[float, float, float]:
        rng = np.random.default_rng(seed)
        speakers = rng.permutation(speaker.max() + 1)
        train = np.isin(speaker, speakers[: args.train_speakers])
        xtr, ytr = torch.from_numpy(waves[train]), torch.from_numpy(labels[train])
        xte, yte = torch.from_numpy(waves[~train]), labels[~train]
        spec = logmel(xtr)
        norm["mean"], norm["std"] = spec.mean(), spec.std()
        mixer = {
            "none": None,
            "waveform AudioMixUp": mixkit.AudioMixUp(snr_db=(-10.0, 10.0), num_classes=10),
            "frequency band CutMix": mixkit.CutMix(axes=(-2,), num_classes=10),
            "time band CutMix": mixkit.CutMix(axes=(-1,), num_classes=10),
        }[method]
        torch.manual_seed(seed)  # the same initial weights for every method of this seed
        model = Net()
        g = torch.Generator().manual_seed(seed)
        mix_rng = np.random.default_rng(seed + 1000)
        batch = 20
        steps = args.epochs * ((len(xtr) + batch - 1) // batch)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
        for _ in range(args.epochs):
            order = torch.randperm(len(xtr), generator=g)
            for k in range(0, len(xtr), batch):
                idx = order[k : k + batch]
                wb, yb = xtr[idx], ytr[idx]
                if mixer is None:
                    loss = F.cross_entropy(model(features(wb)), yb)
                elif method.startswith("waveform"):
                    wm, ym = mixer(
                        wb, yb.numpy(), rng=mix_rng
                    )  # mix the waveforms, then the spectrogram
                    loss = soft_cross_entropy(model(features(wm)), torch.as_tensor(ym))
                else:
                    xm, ym = mixer(
                        features(wb), yb.numpy(), rng=mix_rng
                    )  # paste a band of the spectrogram
                    loss = soft_cross_entropy(model(xm), torch.as_tensor(ym))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        with torch.no_grad():
            prob = torch.softmax(model(features(xte)), 1).double().numpy()
        acc = float((prob.argmax(1) == yte).mean())
        nll = float(-np.log(prob[np.arange(len(yte)), yte] + 1e-12).mean())
        return acc, nll, ece(prob, yte)

    methods = ["none", "waveform AudioMixUp", "frequency band CutMix", "time band CutMix"]
    res = {m: [] for m in methods}
    for seed in range(args.seeds):
        for m in methods:
            res[m].append(run(m, seed))
            a, n, e = res[m][-1]
            print(
                f"seed {seed} {m:22s} accuracy {a:.3f}  NLL {n:.3f}  ECE {e:.3f}  ({time.time() - t0:.0f} s)",
                flush=True,
            )
    n_test = len(waves) - 10 * args.train_speakers
    print(
        f"\n{args.train_speakers} training speakers ({10 * args.train_speakers} clips), {n_test} test clips "
        f"from the other speakers, {args.epochs} epochs, seeds 0..{args.seeds - 1}, mean +- std:"
    )
    print(f"  {'training':22s} {'accuracy':>15s} {'NLL':>15s} {'ECE':>15s}")
    for m in methods:
        r = np.array(res[m])
        cells = "  ".join(f"{r[:, j].mean():.3f} +- {r[:, j].std():.3f}" for j in range(3))
        print(f"  {m:22s} {cells}   (accuracy per seed: {', '.join(f'{v:.3f}' for v in r[:, 0])})")
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
