"""Manifold Mixup (Verma et al., 2019) and TMix: mix hidden activations inside any ``nn.Module``.

Each call picks one of the given layers (uniformly, from the ``rng``), registers a forward hook on it
for that one forward pass, and replaces the layer's output ``h`` by ``lam * h + (1 - lam) * h[partner]``
(or whatever plan the mixer samples for ``h``'s shape). The labels are mixed with the same plan. For
transformer encoders (TMix), every later module that receives an attention mask gets the union of
the two samples' masks, so positions valid in either sample are attended to.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validate import as_generator
from ..companions._common import to_tensor
from ..methods import Mixer, MixUp, apply_plan
from ..plan import MixPlan

__all__ = ["ManifoldMixup"]

INPUT = "input"


def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, Mapping):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        for item in obj:
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


def _union_mask(m: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
    """Union of a sample's attention mask with its partners' (``partner`` ``(B,)``, or ``(B, k - 1)``
    for n-way plans): bool/int masks OR, additive masks max."""
    out = m
    for col in partner.reshape(partner.shape[0], -1).unbind(1):
        other = m.index_select(0, col)
        out = out | other if m.dtype == torch.bool else torch.maximum(out, other)
    return out


class ManifoldMixup:
    """Mix the hidden activations of ``model`` at one of ``layers`` per call.

    Args:
        model: any ``torch.nn.Module``.
        layers: names from ``model.named_modules()`` (``"input"`` mixes the model's first input
            itself, if it is a float tensor); one is chosen per call.
        mixer: the transform whose plan is applied to the hidden batch (default
            ``MixUp(alpha, num_classes=num_classes, **options)``); any :class:`~mixkit.Mixer` works,
            e.g. ``CutMix(axes=(1,))`` for span mixing of ``(B, L, D)`` hidden states.
        alpha, num_classes, options: for the default MixUp.
        mask_arg: the name of the attention-mask argument whose later uses are replaced by the union
            of both samples' masks (``None``: masks are left as they are).

    Call: ``output, y_mixed = mm(x, y, rng=seed)``; ``x`` is the model's input, or a dict of keyword
    inputs (``{"input_ids": ..., "attention_mask": ...}``); other keywords go to the model. The
    plan and the layer used are kept as ``last_plan`` and ``last_layer``.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], *, mixer: Mixer | None = None,
                 alpha: float = 2.0, num_classes: int | None = None, mask_arg: str | None = "attention_mask",
                 **options: Any) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(layers, str):
            layers = [layers]
        layers = list(layers)
        if not layers:
            raise ValueError("layers must name at least one module of the model (or 'input')")
        names = dict(model.named_modules())
        for name in layers:
            if not isinstance(name, str):
                raise TypeError(f"layers must be module names (str), got {name!r}")
            if name != INPUT and (name == "" or name not in names):
                close = difflib.get_close_matches(name, [n for n in names if n], n=3)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise ValueError(
                    f"the model has no layer named {name!r}{hint} (names come from model.named_modules(), "
                    f"e.g. {[n for n in names if n][:5]})"
                )
        if mixer is None:
            mixer = MixUp(alpha, num_classes=num_classes, **options)
        elif options or num_classes is not None:
            raise ValueError("pass either mixer= or the options of the default MixUp, not both")
        if not isinstance(mixer, Mixer):
            raise TypeError(f"mixer must be a mixkit transform (MixUp, CutMix, ...), got {type(mixer).__name__}")
        self.model = model
        self.layers = layers
        self.mixer = mixer
        self.mask_arg = mask_arg
        self.last_plan: MixPlan | None = None
        self.last_layer: str | None = None

    def __repr__(self) -> str:
        return f"ManifoldMixup(model={type(self.model).__name__}, layers={self.layers!r}, mixer={self.mixer!r})"

    def __call__(self, x: Any, y: Any = None, *, rng: Any = None, layer: str | None = None,
                 **model_kwargs: Any) -> tuple[Any, Any]:
        """Run the model once with mixing at one layer; returns ``(output, y_mixed)``."""
        gen = as_generator(rng)
        if layer is None:
            layer = self.layers[int(gen.integers(len(self.layers)))]
        elif layer not in self.layers:
            raise ValueError(f"layer {layer!r} is not among this transform's layers {self.layers}")
        first = _first_tensor(x)
        if first is None:
            raise TypeError(f"x must be a tensor or a dict/sequence holding tensors, got {type(x).__name__}")
        batch = int(first.shape[0])
        if y is not None:  # as the mixer reads them (class labels, or continuous targets)
            y = self.mixer._check_y(y, batch)
        state: dict[str, Any] = {"plan": None, "partner": None}

        def mix(h: torch.Tensor) -> torch.Tensor:
            if not isinstance(h, torch.Tensor) or not h.is_floating_point():
                raise TypeError(
                    f"layer {layer!r} gave {type(h).__name__}"
                    f"{'' if not isinstance(h, torch.Tensor) else ' of dtype ' + str(h.dtype)}; "
                    "Manifold Mixup needs a float tensor (B, ...) there: choose a layer with hidden states"
                )
            if int(h.shape[0]) != batch:
                raise ValueError(f"layer {layer!r} gave a batch of {h.shape[0]}, expected {batch}")
            plan = self.mixer.sample(batch, rng=gen, shape=tuple(int(s) for s in h.shape), x=h.detach(), y=y)
            state["plan"] = plan
            state["partner"] = to_tensor(np.asarray(plan.partner), h.device)
            return apply_plan(plan, h)

        def forward_hook(module: nn.Module, args: Any, output: Any) -> Any:
            if state["plan"] is not None:
                return None
            if isinstance(output, tuple):
                return (mix(output[0]),) + tuple(output[1:])
            if isinstance(output, Mapping) and not isinstance(output, torch.Tensor):
                key = next(iter(output))
                output[key] = mix(output[key])
                return output
            return mix(output)

        handles = []
        signatures: dict[int, inspect.Signature | None] = {}
        unions: dict[int, torch.Tensor] = {}  # id of a mask seen -> its union (computed once per mask)
        made: set[int] = set()  # ids of the unions handed out: passed on to submodules as they are

        def union(m: torch.Tensor) -> torch.Tensor:
            if id(m) in made:
                return m
            if id(m) not in unions:
                u = _union_mask(m, state["partner"])
                unions[id(m)] = u
                made.add(id(u))
            return unions[id(m)]

        def pre_hook(module: nn.Module, args: Any, kwargs: Any) -> Any:
            if state["plan"] is None or self.mask_arg is None:
                return None
            name = self.mask_arg
            if name in kwargs and isinstance(kwargs[name], torch.Tensor) and kwargs[name].shape[0] == batch:
                kwargs = dict(kwargs)
                kwargs[name] = union(kwargs[name])
                return args, kwargs
            key = id(module)
            if key not in signatures:
                try:
                    signatures[key] = inspect.signature(module.forward)
                except (TypeError, ValueError):
                    signatures[key] = None
            sig = signatures[key]
            if sig is None or name not in sig.parameters:
                return None
            pos = list(sig.parameters).index(name)
            if pos < len(args) and isinstance(args[pos], torch.Tensor) and args[pos].shape[0] == batch:
                args = tuple(args[:pos]) + (union(args[pos]),) + tuple(args[pos + 1:])
                return args, kwargs
            return None

        inputs, kwargs = x, dict(model_kwargs)
        try:
            if layer == INPUT:
                if isinstance(x, torch.Tensor):
                    inputs = mix(x)
                else:
                    raise TypeError("layer 'input' mixes a tensor input; pass x as a float tensor")
                if self.mask_arg and isinstance(kwargs.get(self.mask_arg), torch.Tensor):
                    kwargs[self.mask_arg] = _union_mask(kwargs[self.mask_arg], state["partner"])
            else:
                module = dict(self.model.named_modules())[layer]
                handles.append(module.register_forward_hook(forward_hook))
                if self.mask_arg is not None:
                    for m in self.model.modules():
                        handles.append(m.register_forward_pre_hook(pre_hook, with_kwargs=True))
            if isinstance(inputs, Mapping):
                output = self.model(**inputs, **kwargs)
            else:
                output = self.model(inputs, **kwargs)
        finally:
            for h in handles:
                h.remove()
        plan = state["plan"]
        if plan is None:
            raise RuntimeError(f"layer {layer!r} did not run during the forward pass, so nothing was mixed")
        self.last_plan, self.last_layer = plan, layer
        return output, (None if y is None else self.mixer.mix_labels(plan, y))
