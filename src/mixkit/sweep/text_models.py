"""A small head for sentence embeddings, and TMix-style mixing of its hidden states (``tmix``).

The encoder stays frozen (texts are embedded once); what is trained per trial is the head. Two ways
to mix then exist: MixUp of the sentence embeddings themselves (``mixup``: the head's input), and
mixing the head's hidden states (``tmix``: TMix's interpolation of hidden representations, Chen et
al. 2020, applied inside the head, as Manifold Mixup does) — at a hidden layer drawn per batch, with
``h = lam * h + (1 - lam) * h[partner]`` and the labels mixed with the same ``lam`` (``lam`` is the
weight of the sample itself). Importing this module imports no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["HIDDEN", "HiddenMix", "text_head"]

HIDDEN = 256
# the head's hidden blocks, which tmix mixes (one drawn per batch)
MIX_LAYERS = ("block1", "block2")


def text_head(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Embeddings ``(D,)`` -> logits: two hidden blocks of 256 units (``block1``, ``block2``, each
    Linear + ReLU) and a linear output. ``mix_layers`` names the blocks whose outputs ``tmix`` mixes.

    No dropout: its draws would come from torch's global generator, so trials would not repeat and
    strategies on one seed would no longer see the same noise apart from the mixing."""
    from collections import OrderedDict

    from torch import nn

    if len(input_shape) != 1:
        raise ValueError(f"the text head takes embeddings of shape (D,), got {tuple(input_shape)}")
    d = int(input_shape[0])
    model = nn.Sequential(
        OrderedDict(
            block1=nn.Sequential(nn.Linear(d, HIDDEN), nn.ReLU()),
            block2=nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.ReLU()),
            out=nn.Linear(HIDDEN, num_classes),
        )
    )
    model.mix_layers = MIX_LAYERS
    return model


class HiddenMix:
    """TMix-style hidden-state mixing, as a sweep strategy: ``tmix``, ``tmix:layers=('block2',)``.

    Unlike input transforms it runs the model: ``bind(model)`` gives a
    :class:`mixkit.torch.ManifoldMixup` whose call ``logits, y_mixed = mixed(x, y, rng=gen)`` mixes
    at one of ``layers`` (default: the model's ``mix_layers`` attribute, which the text head has).

    Args:
        alpha: Beta(alpha, alpha) of the mixing weight ``lam`` (the sample's own weight).
        layers: names from ``model.named_modules()``; ``None`` takes ``model.mix_layers``.
        num_classes: number of classes of integer labels.
    """

    mixes_hidden = True

    def __init__(
        self,
        alpha: float = 0.4,
        *,
        layers: Sequence[str] | None = None,
        num_classes: int | None = None,
    ) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"alpha must be a positive number (Beta(alpha, alpha)), got {alpha!r}")
        if isinstance(layers, str):
            layers = (layers,)
        if layers is not None:
            layers = tuple(layers)
            if not layers or not all(isinstance(n, str) and n for n in layers):
                raise ValueError(
                    f"layers must be a non-empty tuple of module names such as ('block2',), got {layers!r}"
                )
        self.alpha = float(alpha)
        self.layers = layers
        self.num_classes = num_classes

    def __repr__(self) -> str:
        return f"HiddenMix(alpha={self.alpha:g}, layers={self.layers!r})"

    def bind(self, model: Any) -> Any:
        """A ``ManifoldMixup`` on ``model`` at ``layers`` (or ``model.mix_layers``)."""
        from mixkit.torch import ManifoldMixup

        layers = self.layers or getattr(model, "mix_layers", None)
        if not layers:
            raise ValueError(
                f"tmix mixes hidden states, but the model {type(model).__name__} has no mix_layers "
                "attribute: name its hidden layers, e.g. tmix:layers=('2',) (names from "
                "model.named_modules())"
            )
        return ManifoldMixup(
            model, list(layers), alpha=self.alpha, num_classes=self.num_classes, mask_arg=None
        )
