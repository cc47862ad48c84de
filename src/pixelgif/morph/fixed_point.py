"""Anderson acceleration of the fixed-point iterations that invert a sampler step by step."""

from __future__ import annotations

import torch

# Earlier iterates each round combines (0: plain fixed-point iteration).
ANDERSON_DEPTH = 2


class AndersonMixing:
    """Anderson acceleration of a fixed-point iteration x = g(x), one set of weights per sample.

    Called with each iterate x and its image g(x), returns the next iterate: g(x) less the
    combination of the last ``depth`` differences of g that best cancels the residual g(x) - x
    (least squares over each sample's values, so a sample's result does not depend on its batch)."""

    def __init__(self, depth: int):
        self.depth = depth
        self.points: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, x: torch.Tensor, gx: torch.Tensor) -> torch.Tensor:
        self.points = [*self.points, (x, gx)][-(self.depth + 1) :]
        if len(self.points) < 2:
            return gx
        batch = x.shape[0]
        residuals = [(g - p).reshape(batch, -1) for p, g in self.points]
        images = [g.reshape(batch, -1) for _, g in self.points]
        d_residual = torch.stack([a - b for a, b in zip(residuals[1:], residuals[:-1], strict=True)], dim=2)
        d_image = torch.stack([a - b for a, b in zip(images[1:], images[:-1], strict=True)], dim=2)
        # Least squares by its normal equations, a hair regularised: the same answer where the
        # differences are independent, and a finite one where they are not (iterates that stopped
        # moving), on any device (CUDA's lstsq assumes full rank).
        gram = d_residual.transpose(1, 2) @ d_residual
        ridge = 1e-12 * gram.diagonal(dim1=1, dim2=2).sum(-1, keepdim=True).unsqueeze(-1) + 1e-300
        eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        weights = torch.linalg.solve(gram + ridge * eye, d_residual.transpose(1, 2) @ residuals[-1].unsqueeze(2))
        return (images[-1] - (d_image @ weights).squeeze(2)).reshape(gx.shape)
