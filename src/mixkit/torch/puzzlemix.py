"""PuzzleMix (Kim, Choo and Song, ICML 2020): saliency-guided block masks and transport.

For each output ``i`` with partner ``j = partner[i]``:

1. **Saliency**: ``s = || d loss / d x ||_2`` over the channels, per pixel, on the clean batch (one
   forward and backward of the model, gradients w.r.t. the input only), averaged over the blocks of an
   ``n x n`` grid (``n`` drawn per batch from ``block_counts``) and normalised to sum 1 per image.
2. **Mask**: a labelling of the blocks into ``n_labels`` levels ``0, 1/(K-1), ..., 1`` (the own
   image's share), minimising unary terms (the saliency each image loses, plus the prior
   ``-eta/n**2 * log Binomial(level; K - 1, lam)`` with ``lam ~ Beta(alpha, alpha)``) and pairwise
   terms (``beta/(16 n) * (1 + gamma * local-statistics penalty)`` times the squared level difference).
   The minimum is exact, one s-t minimum cut on the CPU (see :mod:`mixkit.torch._puzzle_cpu`); the
   authors' code runs gco's alpha-beta swap on the same energy (int32-scaled), a local minimum for 3 or
   more levels, so masks can differ where the swap stops early.
3. **Transport**: each image's blocks are moved by a permutation that keeps saliency where the mask
   shows the image, at a cost ``t_eps`` per squared (normalised) displacement (the paper's iterative
   algorithm, on the batch's device; the blocks left without a position after the last step fill the
   free positions, so the plan is always a permutation, where the authors' code can drop blocks).
4. ``out = mask * T_own(x) + (1 - mask) * T_partner(x[partner])``; targets mixed by each output's mask
   mean ``lam`` (the own image's share): ``lam * onehot(y) + (1 - lam) * onehot(y[partner])``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import as_generator, check_alpha, check_probability
from ..labels import check_labels, one_hot
from ..methods._base import check_num_classes
from ..methods._result import Mixed

__all__ = ["PuzzleMix", "PuzzlePlan"]

#: the block counts the authors' code draws from (``2 ** randint(1, 5)``, uniformly), for 32 x 32 images
DEFAULT_BLOCK_COUNTS = (2, 4, 8, 16)


@dataclass(frozen=True, eq=False)
class PuzzlePlan:
    """One PuzzleMix draw for a batch ``(B, C, H, W)``.

    ``partner`` ``(B,)`` int64 (NumPy); ``block_count`` ``n`` (the mask's grid is ``n x n``);
    ``lam_prior`` the ``Beta(alpha, alpha)`` draw of the prior; ``labels`` ``(B, n, n)`` int64 levels
    in ``[0, K)`` (NumPy); ``mask`` ``(B, H, W)`` the own image's share per pixel (``labels / (K - 1)``
    upsampled); ``lam`` ``(B,)`` its mean; ``transport_count`` ``t`` (the transport grid is
    ``t x t``); ``transport_own`` and ``transport_partner`` ``(B, t * t)`` int64: output block ``k``
    (row-major) of the transported image ``i`` is block ``transport_own[i, k]`` of ``x[i]``,
    resp. ``transport_partner[i, k]`` of ``x[partner[i]]`` (identity without transport). ``noise_own``,
    ``noise_partner``: whether the adversarial noise was added to that side (``adv_p``).
    """

    partner: np.ndarray
    block_count: int
    lam_prior: float
    labels: np.ndarray
    mask: torch.Tensor
    lam: torch.Tensor
    transport_count: int
    transport_own: torch.Tensor
    transport_partner: torch.Tensor
    noise_own: bool = False
    noise_partner: bool = False

    @property
    def batch_size(self) -> int:
        return int(self.partner.shape[0])


def _int_option(name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {lo}, got {type(value).__name__} ({value!r})")
    if value < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {value}")
    return int(value)


def _nonneg(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number >= 0, got {type(value).__name__} ({value!r})")
    if not (math.isfinite(float(value)) and float(value) >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _channel_stat(name: str, value: Any, positive: bool) -> tuple[float, ...] | None:
    if value is None:
        return None
    vals = (value,) if isinstance(value, (int, float, np.integer, np.floating)) else tuple(value)
    if not vals or any(isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) for v in vals):
        raise TypeError(f"{name} must be a number or a sequence of numbers (one per channel), got {value!r}")
    if any(not math.isfinite(float(v)) or (positive and float(v) <= 0) for v in vals):
        raise ValueError(f"{name} must hold finite numbers{' > 0' if positive else ''}, got {value!r}")
    return tuple(float(v) for v in vals)


def _divisor_at_most(size: int, cap: int) -> int:
    """The largest divisor of ``size`` that is <= ``cap``."""
    for d in range(min(cap, size), 0, -1):
        if size % d == 0:
            return d
    return 1


def _cost_matrix(t: int, device: torch.device) -> torch.Tensor:
    """``(t*t, t*t)``: squared distance between block positions over ``(t - 1)**2``."""
    r = torch.arange(t, device=device, dtype=torch.float32)
    ii, jj = torch.meshgrid(r, r, indexing="ij")
    pos = torch.stack([ii.reshape(-1), jj.reshape(-1)], dim=1)
    return ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1) / max(t - 1, 1) ** 2


def _transport(shown: torch.Tensor, sal: torch.Tensor, eps: float, steps: int) -> torch.Tensor:
    """A permutation per image of its ``N = t*t`` blocks: ``src (B, N)``, output block ``k`` takes block
    ``src[:, k]``.

    The paper's masked transport: cost ``eps * C[a, k] - sal[a] * shown[k]`` of moving block ``a`` to
    position ``k``; in each step every block picks its cheapest position, each position keeps its cheapest
    contender (ties: the lower-numbered block), and the losers' cost of that position grows by 1. After ``steps``
    steps the blocks left without a position fill the free positions in index order, so the result is
    always a permutation.
    """
    b, n = sal.shape
    cost = eps * _cost_matrix(math.isqrt(n), sal.device)[None] - sal[:, :, None] * shown[:, None, :]
    rows = torch.arange(n, device=sal.device).expand(b, n)
    win = torch.zeros(b, n, dtype=torch.bool, device=sal.device)
    best = rows.clone()
    for _ in range(steps):
        mine, best = cost.min(-1)  # (B, N) each block's cheapest position and its cost
        least = torch.full_like(mine, math.inf).scatter_reduce_(-1, best, mine, "amin")
        # per position, the lowest-numbered of the contenders at the least cost
        tied = torch.where(mine == least.gather(-1, best), rows, n)
        winner = torch.full_like(best, n).scatter_reduce_(-1, best, tied, "amin")
        win = winner.gather(-1, best) == rows
        cost.scatter_add_(-1, best[..., None], (~win).to(cost.dtype)[..., None])
    dest = torch.where(win, best, rows)
    taken = torch.zeros(b, n, dtype=torch.int64, device=sal.device)
    taken = taken.scatter_add_(-1, torch.where(win, best, 0), win.to(torch.int64)) > 0
    free_rows = torch.argsort(win.to(torch.int8), dim=-1, stable=True)
    free_cols = torch.argsort(taken.to(torch.int8), dim=-1, stable=True)
    n_free = (~win).sum(-1, keepdim=True)
    fill = torch.where(torch.arange(n, device=sal.device)[None] < n_free, free_cols, dest.gather(-1, free_rows))
    dest = dest.scatter(-1, free_rows, fill)
    return torch.empty_like(dest).scatter_(-1, dest, rows)


def _move_blocks(x: torch.Tensor, src: torch.Tensor, t: int) -> torch.Tensor:
    """``x`` ``(B, C, H, W)`` with its ``t x t`` blocks rearranged: block ``k`` of the result is block
    ``src[:, k]`` of ``x``."""
    b, c, h, w = x.shape
    bh, bw = h // t, w // t
    blocks = x.reshape(b, c, t, bh, t, bw).permute(0, 2, 4, 1, 3, 5).reshape(b, t * t, c, bh, bw)
    moved = blocks.gather(1, src.view(b, t * t, 1, 1, 1).expand(b, t * t, c, bh, bw))
    return moved.reshape(b, t, t, c, bh, bw).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def _boundary_penalty(a: torch.Tensor, b: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean absolute difference across each block boundary, ``a`` on the first side, ``b`` on the other.

    ``a``, ``b``: ``(B, C, G, G)`` local means (cells of ``neigh`` pixels), ``k`` cells per block side.
    Returns ``(B, n - 1, n)`` (block above vs below) and ``(B, n, n - 1)`` (left vs right), each
    averaged over the channels and the ``k`` cells along the boundary.
    """
    bsz, _, g, _ = a.shape
    n = g // k
    down = (a[:, :, k - 1:g - 1:k, :] - b[:, :, k::k, :]).abs().mean(1)  # (B, n - 1, G)
    right = (a[:, :, :, k - 1:g - 1:k] - b[:, :, :, k::k]).abs().mean(1)  # (B, G, n - 1)
    return down.reshape(bsz, n - 1, n, k).mean(-1), right.reshape(bsz, n, k, n - 1).mean(2)


class PuzzleMix:
    """PuzzleMix: ``res = PuzzleMix(1.0, num_classes=10)(model, x, y, rng=seed)``.

    ``x`` ``(B, C, H, W)`` float; ``y`` class indices ``(B,)`` (with ``num_classes``) or probability
    rows ``(B, C)``. Returns a :class:`~mixkit.Mixed` ``(x_mixed, targets)``: ``x_mixed =
    mask * T_own(x) + (1 - mask) * T_partner(x[partner])``, dense ``targets (B, classes) =
    lam * y_i + (1 - lam) * y_partner`` with ``lam`` the mean of output ``i``'s mask (the own image's
    share); ``res.plan`` is the :class:`PuzzlePlan`, and ``res.clean_loss`` (``clean_lam > 0``) is
    ``clean_lam * CE(model(x), y)``, attached to the graph, to add to the mixed loss.

    Options (defaults as in the authors' ``main.py``):
        alpha: ``lam ~ Beta(alpha, alpha)`` of the prior (the paper's CIFAR runs use 1.0).
        beta: 1.2, the label smoothness (scaled by ``1 / (16 n)`` for an ``n x n`` grid, as the authors).
        gamma: 0.5, the weight of the local-statistics (data smoothness) term.
        eta: 0.2, the weight of the prior term (scaled by ``1 / n**2``).
        neigh_size: 4, the pixel cell whose mean the local statistics compare (at most a block side).
        n_labels: 3, the mask levels ``0, 0.5, 1`` (2: a binary mask).
        block_counts: ``(2, 4, 8, 16)``, the grid sizes ``n`` drawn uniformly per batch; those that do
            not divide ``H`` and ``W`` are skipped.
        transport: True; ``t_eps`` 0.8 the transport cost; ``t_size`` None: the transport grid is the
            mask's grid (the authors' ``-1``; their CIFAR runs use ``t_size=4`` pixels);
            ``t_steps`` None: as many steps as the transport grid's side (the authors' count).
        adv_p: 0.0, the probability (per batch, for each side) of adding adversarial noise, the
            authors' randomly started FGSM of ``adv_eps`` 10.0 (in 1/255 of the pixel range) from the
            saliency pass, scaled by ``U(0, 1)``; it needs ``mean`` and ``std`` (per channel, the
            normalisation of ``x``; ``None``: ``x`` is in ``[0, 1]``).
        clean_lam: 0.0; > 0 keeps the saliency pass's graph and returns ``res.clean_loss``.
        mean, std: ``x = (pixels - mean) / std``; the local statistics and the noise are computed on
            the pixels, as the authors do.

    Cost: one forward and backward of the model on the clean batch (autograd w.r.t. ``x``, the
    parameters' ``.grad`` untouched, the model's train/eval mode as given), then the mask's exact
    minimum cut on the CPU, which moves the block terms (``B * n * n`` numbers) to the host and the
    labels back: one device synchronisation per batch.
    """

    def __init__(self, alpha: float = 1.0, *, num_classes: int | None = None, beta: float = 1.2,
                 gamma: float = 0.5, eta: float = 0.2, neigh_size: int = 4, n_labels: int = 3,
                 block_counts: Sequence[int] = DEFAULT_BLOCK_COUNTS, transport: bool = True,
                 t_eps: float = 0.8, t_size: int | None = None, t_steps: int | None = None,
                 adv_p: float = 0.0, adv_eps: float = 10.0, clean_lam: float = 0.0,
                 mean: Any = None, std: Any = None) -> None:
        self.alpha = check_alpha(alpha)
        self.num_classes = check_num_classes(num_classes)
        self.beta = _nonneg("beta", beta)
        self.gamma = _nonneg("gamma", gamma)
        self.eta = _nonneg("eta", eta)
        self.neigh_size = _int_option("neigh_size", neigh_size, 1)
        self.n_labels = _int_option("n_labels", n_labels, 2)
        if isinstance(block_counts, (int, np.integer)) or not isinstance(block_counts, Sequence):
            raise TypeError(f"block_counts must be a sequence of ints >= 2, got {block_counts!r}")
        if not block_counts:
            raise ValueError("block_counts must hold at least one grid size (an int >= 2), got none")
        self.block_counts = tuple(_int_option("block_counts[...]", v, 2) for v in block_counts)
        if not isinstance(transport, (bool, np.bool_)):
            raise TypeError(f"transport must be True or False, got {transport!r}")
        self.transport = bool(transport)
        self.t_eps = _nonneg("t_eps", t_eps)
        self.t_size = None if t_size is None else _int_option("t_size", t_size, 1)
        self.t_steps = None if t_steps is None else _int_option("t_steps", t_steps, 0)
        self.adv_p = check_probability(adv_p, "adv_p")
        self.adv_eps = _nonneg("adv_eps", adv_eps)
        self.clean_lam = _nonneg("clean_lam", clean_lam)
        self.mean = _channel_stat("mean", mean, False)
        self.std = _channel_stat("std", std, True)

    def __repr__(self) -> str:
        return (f"PuzzleMix({self.alpha!r}, num_classes={self.num_classes!r}, beta={self.beta!r}, "
                f"gamma={self.gamma!r}, eta={self.eta!r}, neigh_size={self.neigh_size!r}, "
                f"n_labels={self.n_labels!r}, block_counts={self.block_counts!r}, "
                f"transport={self.transport!r}, t_eps={self.t_eps!r}, t_size={self.t_size!r}, "
                f"t_steps={self.t_steps!r}, adv_p={self.adv_p!r}, adv_eps={self.adv_eps!r}, "
                f"clean_lam={self.clean_lam!r})")

    # -- checks ------------------------------------------------------------------------------------
    def _check_x(self, x: Any) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch tensor (B, C, H, W), got {type(x).__name__}")
        if x.ndim != 4:
            raise ValueError(f"x must be a batch of images (B, C, H, W), got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"x must be a float tensor (B, C, H, W), got dtype {x.dtype}; convert with x.float()")
        for name, stat in (("mean", self.mean), ("std", self.std)):
            if stat is not None and len(stat) not in (1, x.shape[1]):
                raise ValueError(f"{name} has {len(stat)} values but x has {x.shape[1]} channels")
        return x

    def _check_y(self, y: Any, b: int) -> torch.Tensor:
        if not isinstance(y, torch.Tensor):
            raise TypeError(
                f"y must be a torch tensor of class indices (B,) or probability rows (B, C), got {type(y).__name__}"
            )
        y = check_labels(y, b, self.num_classes)
        if y.ndim == 1 and self.num_classes is None:
            raise ValueError("class-index labels (B,) need num_classes=...; or pass probability rows (B, C)")
        return y

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def as_t(v: tuple[float, ...] | None, default: float) -> torch.Tensor:
            vals = (default,) if v is None else v
            return torch.tensor(vals, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)

        return as_t(self.mean, 0.0), as_t(self.std, 1.0)

    # -- saliency ------------------------------------------------------------------------------------
    def _loss_grad(self, model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                   keep_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if not callable(model):
            raise TypeError(f"model must be a callable x -> logits (B, classes), got {type(model).__name__}")
        xg = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = model(xg)
            if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != x.shape[0]:
                shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                raise ValueError(f"the model must return logits (B, classes) for B={x.shape[0]}, got {shape}")
            if y.ndim == 1:
                loss = F.cross_entropy(logits, y.long())
            else:
                loss = -(y.to(logits.dtype) * F.log_softmax(logits, dim=1)).sum(1).mean()
            (grad,) = torch.autograd.grad(loss, xg, retain_graph=keep_graph)
        return grad, loss

    def saliency(self, model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: Any) -> torch.Tensor:
        """``(B, H, W)``: the L2 norm over the channels of ``d CE(model(x), y) / d x`` (mean over the
        batch), computed with ``torch.autograd.grad`` w.r.t. ``x`` only; ``x`` and the parameters'
        ``.grad`` are left as they were, and so is the model's train/eval mode."""
        x = self._check_x(x)
        y = self._check_y(y, int(x.shape[0]))
        grad, _ = self._loss_grad(model, x, y, keep_graph=False)
        return grad.norm(dim=1).detach()

    # -- the call ------------------------------------------------------------------------------------
    def __call__(self, model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: Any, *,
                 rng: Any = None) -> Mixed:
        """Saliency from one forward and backward of ``model`` on ``x``, then :meth:`mix`."""
        x = self._check_x(x)
        b = int(x.shape[0])
        y = self._check_y(y, b)
        gen = as_generator(rng)
        draws = self._draw(x, gen)
        x_sal = x
        noise = None
        if draws["adv"]:
            mean, std = self._stats(x)
            start = torch.from_numpy(gen.uniform(-1.0, 1.0, size=tuple(x.shape))).to(x.device, x.dtype)
            pix = x * std + mean
            noisy = (pix + start * self.adv_eps / 255.0).clamp(0.0, 1.0)
            noise = noisy - pix
            x_sal = (noisy - mean) / std
        grad, loss = self._loss_grad(model, x_sal, y, keep_graph=self.clean_lam > 0)
        if noise is not None:
            bound = self.adv_eps / 255.0
            noise = (noise + (self.adv_eps + 2.0) / 255.0 * grad.sign()).clamp(-bound, bound) * draws["adv_coef"]
        res = self._mix(x, y, grad.norm(dim=1).detach(), draws, noise)
        if self.clean_lam > 0:
            return Mixed(res.x, res.y, {**res.companions, "clean_loss": self.clean_lam * loss})
        return res

    def mix(self, x: torch.Tensor, y: Any, *, saliency: torch.Tensor, rng: Any = None) -> Mixed:
        """PuzzleMix of ``x`` with a given saliency map ``(B, H, W)`` (>= 0); no model, no noise."""
        x = self._check_x(x)
        b, _, h, w = x.shape
        y = self._check_y(y, int(b))
        if not isinstance(saliency, torch.Tensor):
            raise TypeError(f"saliency must be a torch tensor (B, H, W), got {type(saliency).__name__}")
        if tuple(saliency.shape) != (b, h, w):
            raise ValueError(f"saliency must have shape (B, H, W) = {(b, h, w)}, got {tuple(saliency.shape)}")
        if not saliency.is_floating_point():
            raise TypeError(f"saliency must be a float tensor, got dtype {saliency.dtype}")
        draws = self._draw(x, as_generator(rng), adversarial=False)
        return self._mix(x, y, saliency.detach().to(x.device, torch.float32), draws, None)

    # -- the plan -------------------------------------------------------------------------------------
    def _draw(self, x: torch.Tensor, gen: np.random.Generator, adversarial: bool = True) -> dict[str, Any]:
        b, _, h, w = x.shape
        usable = [n for n in self.block_counts if h % n == 0 and w % n == 0]
        if not usable:
            raise ValueError(
                f"none of block_counts={self.block_counts} divides the image size {h} x {w}; "
                "give block_counts that divide both sides"
            )
        n = int(usable[int(gen.integers(len(usable)))])
        partner = gen.permutation(int(b)).astype(np.int64)
        lam = float(gen.beta(self.alpha, self.alpha))
        own = partner_side = False
        coef = 1.0
        if adversarial and self.adv_p > 0:
            own = bool(gen.random() < self.adv_p)
            partner_side = bool(gen.random() < self.adv_p)
            if own or partner_side:
                coef = float(gen.uniform(0.0, 1.0))
        return {"n": n, "partner": partner, "lam": lam, "adv": own or partner_side, "adv_own": own,
                "adv_partner": partner_side, "adv_coef": coef}

    def _unaries(self, x: torch.Tensor, sal: torch.Tensor, partner: torch.Tensor, n: int,
                 lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The energy of the block labelling: ``D (B, K, n, n)``, ``wx (B, n-1, n)``, ``wy (B, n, n-1)``."""
        b, _, h, w = x.shape
        bh, bw = h // n, w // n
        s = F.avg_pool2d(sal[:, None], (bh, bw))[:, 0]
        s = s / s.sum((1, 2), keepdim=True).clamp_min(torch.finfo(s.dtype).tiny)
        # the cost of showing the own image (level 1) is the partner's lost saliency, and the reverse
        c_own, c_par = s[partner].clone(), s.clone()
        beta = self.beta / n / 16.0
        wx = torch.full((b, n - 1, n), beta, device=x.device)
        wy = torch.full((b, n, n - 1), beta, device=x.device)
        if self.gamma > 0 and beta > 0:
            mean, std = self._stats(x)
            nb = _divisor_at_most(math.gcd(bh, bw), self.neigh_size)
            cells = F.avg_pool2d((x.detach() * std + mean).float(), nb)
            k = min(bh, bw) // nb
            if bh != bw:  # non-square blocks: cells of nb pixels, k per block side on both axes
                cells = F.adaptive_avg_pool2d(cells, (n * k, n * k))
            other = cells[partner]
            sides = {(1, 1): (cells, cells), (1, 0): (cells, other), (0, 1): (other, cells), (0, 0): (other, other)}
            px, py = {}, {}
            for key, (a, c) in sides.items():
                dx, dy = _boundary_penalty(a, c, k)
                px[key], py[key] = beta * self.gamma * dx, beta * self.gamma * dy
            # pairwise table phi(a, b) (1: own, 0: partner) = unary parts + a Potts weight, exactly
            # (the first index is the upper/left block's side); equal to phi up to a constant
            c_own[:, :-1, :] += (px[1, 0] + px[1, 1]) / 2
            c_par[:, :-1, :] += (px[0, 1] + px[0, 0]) / 2
            c_own[:, 1:, :] += (px[0, 1] + px[1, 1]) / 2
            c_par[:, 1:, :] += (px[1, 0] + px[0, 0]) / 2
            c_own[:, :, :-1] += (py[1, 0] + py[1, 1]) / 2
            c_par[:, :, :-1] += (py[0, 1] + py[0, 0]) / 2
            c_own[:, :, 1:] += (py[0, 1] + py[1, 1]) / 2
            c_par[:, :, 1:] += (py[1, 0] + py[0, 0]) / 2
            wx = wx + (px[1, 0] + px[0, 1] - px[1, 1] - px[0, 0]) / 2
            wy = wy + (py[1, 0] + py[0, 1] - py[1, 1] - py[0, 0]) / 2
        k_lab = self.n_labels
        levels = torch.linspace(0.0, 1.0, k_lab, device=x.device).view(1, k_lab, 1, 1)
        d = levels * c_own[:, None] + (1 - levels) * c_par[:, None]
        j = np.arange(k_lab)
        log_binom = np.array([math.lgamma(k_lab) - math.lgamma(i + 1) - math.lgamma(k_lab - i) for i in j])
        prior = -np.log(np.exp(log_binom) * lam ** j * (1 - lam) ** (k_lab - 1 - j) + 1e-8)
        d = d + torch.tensor(self.eta * prior / n**2, device=x.device, dtype=d.dtype).view(1, k_lab, 1, 1)
        host = torch.cat([d.reshape(b, -1), wx.clamp_min(0).reshape(b, -1), wy.clamp_min(0).reshape(b, -1)], 1)
        host = host.detach().to("cpu", torch.float64).numpy()  # the one synchronisation per batch
        m = k_lab * n * n
        return (host[:, :m].reshape(b, k_lab, n, n), host[:, m:m + (n - 1) * n].reshape(b, n - 1, n),
                host[:, m + (n - 1) * n:].reshape(b, n, n - 1))

    def _mix(self, x: torch.Tensor, y: torch.Tensor, sal: torch.Tensor, draws: dict[str, Any],
             noise: torch.Tensor | None) -> Mixed:
        from ._puzzle_cpu import solve_labels

        b, _, h, w = x.shape
        n = draws["n"]
        partner_np = draws["partner"]
        partner = torch.from_numpy(partner_np).to(x.device)
        if b == 1:
            partner_np = np.zeros(1, np.int64)
            partner = torch.zeros(1, dtype=torch.int64, device=x.device)
            labels = np.full((1, n, n), self.n_labels - 1, np.int64)
        else:
            labels = solve_labels(*self._unaries(x, sal, partner, n, draws["lam"]))
        grid = torch.from_numpy(labels).to(x.device, x.dtype) / (self.n_labels - 1)
        t = n
        if self.t_size is not None:
            t_px = min(self.t_size, h // n, w // n)
            t = n * _divisor_at_most(math.gcd(h // n, w // n), max((h // n) // t_px, 1))
        eye = torch.arange(t * t, device=x.device).expand(b, t * t)
        src_own, src_par = eye, eye
        own, other = x, x[partner]
        if noise is not None:
            mean, std = self._stats(x)
            if draws["adv_own"]:
                own = ((own * std + mean + noise).clamp(0.0, 1.0) - mean) / std
            if draws["adv_partner"]:
                other = ((other * std + mean + noise[partner]).clamp(0.0, 1.0) - mean) / std
        if self.transport and b > 1:
            mask_t = grid.repeat_interleave(t // n, 1).repeat_interleave(t // n, 2).reshape(b, -1)
            s = F.avg_pool2d(sal[:, None].float(), (h // t, w // t))[:, 0].reshape(b, -1)
            s = s / s.sum(1, keepdim=True).clamp_min(torch.finfo(s.dtype).tiny)
            steps = t if self.t_steps is None else self.t_steps
            src_own = _transport((mask_t > 0).float(), s, self.t_eps, steps)
            src_par = _transport((mask_t < 1).float(), s[partner], self.t_eps, steps)
            own = _move_blocks(own, src_own, t)
            other = _move_blocks(other, src_par, t)
        mask = grid.repeat_interleave(h // n, 1).repeat_interleave(w // n, 2)
        lam = mask.reshape(b, -1).mean(1)
        m4 = mask[:, None]
        x_mixed = own if b == 1 else m4 * own + (1 - m4) * other
        if b == 1 and noise is None:
            x_mixed = x.clone()
        rows = one_hot(y, int(self.num_classes), dtype=x.dtype) if y.ndim == 1 else y.to(x.dtype)
        lam_t = lam.to(rows.dtype)[:, None]
        targets = lam_t * rows + (1 - lam_t) * rows[partner]
        plan = PuzzlePlan(partner_np, n, draws["lam"], labels, mask, lam, t, src_own, src_par,
                          bool(noise is not None and draws["adv_own"]),
                          bool(noise is not None and draws["adv_partner"]))
        return Mixed(x_mixed, targets, {"plan": plan})
