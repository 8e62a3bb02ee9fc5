"""The value every transform call returns for an array batch."""

from __future__ import annotations

from typing import Any, Self

__all__ = ["Mixed"]


class Mixed(tuple):
    """``(x_mixed, y_mixed)``, with the mixed companions alongside.

    A tuple of length 2, so ``xm, ym = t(x, y)`` works whatever was passed; ``.x`` and ``.y`` name the
    two (``y`` is None when no labels were given). ``.companions`` is a dict (empty when none were
    given) holding each companion passed as a keyword, under the same name (``"mask"``, ``"boxes"``,
    ``"box_labels"``, ``"keypoints"``, ``"padding_mask"``, ``"lengths"``, ``"token_labels"``), plus the
    outputs the mixing derives: ``"box_weights"`` (and ``"box_valid"`` for padded boxes) with boxes,
    ``"keypoint_weights"`` with keypoints, ``"padding_mask"`` when ``lengths`` were given. Each is
    also an attribute: ``res.mask``.
    """

    def __new__(cls, x: Any, y: Any = None, companions: dict[str, Any] | None = None) -> Self:
        self = super().__new__(cls, (x, y))
        self.__dict__["companions"] = dict(companions or {})
        return self

    @property
    def x(self) -> Any:
        """The mixed batch."""
        return self[0]

    @property
    def y(self) -> Any:
        """The mixed labels (dense targets or :class:`~mixkit.MixedTargets`), or None."""
        return self[1]

    def __getattr__(self, name: str) -> Any:
        companions = self.__dict__.get("companions", {})
        if name in companions:
            return companions[name]
        raise AttributeError(
            f"'Mixed' has no attribute {name!r}; its companions are {sorted(companions) or 'none'}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Mixed is read-only")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Mixed, (self[0], self[1], self.__dict__["companions"]))

    def __repr__(self) -> str:
        def short(v: Any) -> str:
            shape = getattr(v, "shape", None)
            return f"{type(v).__name__}{tuple(shape)}" if shape is not None else type(v).__name__

        parts = [f"x={short(self[0])}", f"y={short(self[1])}"]
        parts += [f"{k}={short(v)}" for k, v in self.__dict__["companions"].items()]
        return f"Mixed({', '.join(parts)})"
