"""Interpolation between keyframe tensors: lerp and slerp. Pure functions over tensors, no model code.

Where frames sit between keyframes (the frame schedule, easing) is torch-free, in ``schedule``.
"""

from __future__ import annotations

import math

import torch

# Below this |sin(theta)| slerp's division is ill-conditioned; see `slerp`.
_PARALLEL_EPS = 1e-6


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Return the linear interpolation ``(1 - t) * a + t * b``; exactly ``a`` at 0 and ``b`` at 1."""
    if t == 0:
        return a.clone()
    if t == 1:
        return b.clone()
    return (1.0 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, dim: int | None = None) -> torch.Tensor:
    """Return the spherical interpolation from ``a`` (t=0) to ``b`` (t=1).

    Angles are measured over all elements (``dim=None``, as for a latent) or along ``dim`` (for
    example per token of a text embedding). Unit inputs give unit outputs; for inputs of other
    norms the norm changes smoothly between the two. Nearly parallel inputs fall back to lerp,
    which is exact there; anti-parallel inputs turn through a fixed orthogonal direction instead
    of collapsing to zero.
    """
    if a.shape != b.shape:
        raise ValueError(f"slerp needs tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if t == 0:
        return a.clone()
    if t == 1:
        return b.clone()

    # float64 keeps the angle accurate when the vectors are close, whatever the input dtype.
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    if dim is None:
        out = _slerp_rows(a64.reshape(1, -1), b64.reshape(1, -1), t).reshape(a.shape)
    else:
        moved_a, moved_b = a64.movedim(dim, -1), b64.movedim(dim, -1)
        flat = _slerp_rows(moved_a.reshape(-1, moved_a.shape[-1]), moved_b.reshape(-1, moved_b.shape[-1]), t)
        out = flat.reshape(moved_a.shape).movedim(-1, dim)
    return out.to(a.dtype)


def adain(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Return ``x`` (B, C, H, W) with each channel's mean and std set to those of ``a`` and ``b`` lerped by ``t``.

    Adaptive instance normalisation of an interpolated latent: inverted noise is not white noise
    (it keeps the image's colour statistics), and its slerp drifts towards grey; matching the
    statistics the two ends have keeps the in-betweens' colour and contrast on the path between them.
    """
    dims = (-2, -1)
    mean = (1 - t) * a.mean(dims, keepdim=True) + t * b.mean(dims, keepdim=True)
    std = (1 - t) * a.std(dims, keepdim=True) + t * b.std(dims, keepdim=True)
    centred = x - x.mean(dims, keepdim=True)
    return centred / x.std(dims, keepdim=True).clamp_min(1e-6) * std + mean


def _slerp_rows(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Return slerp of each row of ``a`` towards the same row of ``b`` (2-D float64 inputs)."""
    norm_a = a.norm(dim=-1, keepdim=True)
    norm_b = b.norm(dim=-1, keepdim=True)
    unit_a = a / norm_a.clamp_min(1e-30)
    unit_b = b / norm_b.clamp_min(1e-30)
    cos = (unit_a * unit_b).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    theta = torch.arccos(cos)
    sin = torch.sin(theta)

    general = (torch.sin((1 - t) * theta) * a + torch.sin(t * theta) * b) / sin.clamp_min(_PARALLEL_EPS)
    parallel = (1 - t) * a + t * b
    out = torch.where(sin.abs() < _PARALLEL_EPS, parallel, general)

    anti = (sin.abs() < _PARALLEL_EPS) & (cos < 0)
    if anti.any():
        # Through an orthogonal direction the path keeps its length; lerp would pass through zero.
        perp = _orthogonal_unit(unit_a)
        norm = (1 - t) * norm_a + t * norm_b
        turned = (math.cos(t * math.pi) * unit_a + math.sin(t * math.pi) * perp) * norm
        out = torch.where(anti, turned, out)
    return out


def _orthogonal_unit(unit: torch.Tensor) -> torch.Tensor:
    """Return, per row, a unit vector orthogonal to ``unit`` (rows must be unit vectors)."""
    # The axis least aligned with the row is never parallel to it, so Gram-Schmidt is stable.
    axis = torch.zeros_like(unit)
    axis.scatter_(-1, unit.abs().argmin(dim=-1, keepdim=True), 1.0)
    perp = axis - (axis * unit).sum(-1, keepdim=True) * unit
    return perp / perp.norm(dim=-1, keepdim=True)
