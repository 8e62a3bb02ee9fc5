"""`mixkit sweep` on your own PyTorch training loop.

The sweep owns the protocol (the split, the paired seeds, the strategies, the store, the statistics
and the report) and calls ``fit`` once per trial with the strategy's mixkit transform (``None`` for no
mixing). ``fit`` trains your model however you like and returns ``predict(X)``, which gives class
probabilities of shape ``(len(X), num_classes)``.

Run it:  python examples/sweep_byo_torch.py
or, from the examples folder:  mixkit sweep --train sweep_byo_torch:fit --data digits
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import mixkit
from mixkit.torch import soft_cross_entropy


class SmallNet(nn.Module):
    """Your model: here a small CNN for images of shape (C, H, W)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def fit(
    transform, X_train, y_train, *, seed, device, num_classes, epochs=30, batch_size=32, lr=3e-3
):
    """Train ``SmallNet`` on ``X_train`` (N, C, H, W) and ``y_train`` (N,) class indices."""
    # Paired seeds: with the same seed every strategy starts from the same weights and sees the
    # same batches; only the mixing draws differ. One stream for the order, one for the mixing.
    order_rng, mix_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    with torch.random.fork_rng(
        devices=[]
    ):  # seeds the initial weights, leaves torch's RNG as it was
        torch.manual_seed(seed)
        model = SmallNet(X_train.shape[1], num_classes)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    X = torch.from_numpy(X_train).to(device)
    y = torch.from_numpy(y_train).to(device)
    batch_size = min(batch_size, len(X))
    for _ in range(epochs):
        model.train()
        order = torch.from_numpy(order_rng.permutation(len(X))).to(device)
        for start in range(0, len(X) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            xb, yb = X[idx], y[idx]  # already on the device: mixkit mixes them there
            if transform is None:
                targets = nn.functional.one_hot(yb, num_classes).float()
            else:
                xb, targets = transform(xb, yb, rng=mix_rng)  # soft targets (B, num_classes)
            loss = soft_cross_entropy(model(xb), targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()

    def predict(X_eval):
        with torch.no_grad():
            logits = model(torch.from_numpy(X_eval).to(device))
        return torch.softmax(logits, dim=1).cpu().numpy()

    return predict


if __name__ == "__main__":  # needed with jobs > 1: worker processes import this file
    result = mixkit.sweep(
        "digits",
        train=fit,
        methods="none,mixup,cutmix:alpha=1.0",
        alphas="0.2,0.4",
        seeds=5,
        out="mixkit-output/sweep-byo-torch",
        jobs=2,
    )
    print(result.statement)
