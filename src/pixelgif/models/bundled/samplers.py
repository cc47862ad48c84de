"""The bundled model's samplers without diffusers: DPM-Solver++ (multistep, order 1 or 2) and DDIM.

Importing ``diffusers.schedulers`` imports the whole diffusers package (several seconds on a 2-core
CPU), more than the bundled model's own load. These two are all the bundled model uses by default:
DPM-Solver++(2M) with dynamic thresholding is its sampler (weights/scheduler), DDIM with no clipping
("DDIM-exact") renders image and sprite-library keyframes from their inverted noise. They follow
diffusers' ``DPMSolverMultistepScheduler`` and ``DDIMScheduler`` operation for operation, so the
samples are the same (tests/models/test_samplers.py compares them within 1e-6); `scheduler_for`
returns None for any setting they do not implement, and the caller then uses diffusers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# Every setting these samplers read, with diffusers' defaults; a setting outside `_SUPPORTED` (or
# an unknown one that changes the computation) sends the caller to diffusers.
_COMMON = {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
           "trained_betas": None, "prediction_type": "epsilon", "thresholding": False,
           "dynamic_thresholding_ratio": 0.995, "sample_max_value": 1.0, "steps_offset": 0,
           "rescale_betas_zero_snr": False}  # fmt: skip
_DEFAULTS = {
    "DPMSolverMultistepScheduler": {**_COMMON, "solver_order": 2, "algorithm_type": "dpmsolver++",
                                    "solver_type": "midpoint", "lower_order_final": True, "euler_at_final": False,
                                    "use_karras_sigmas": False, "use_exponential_sigmas": False,
                                    "use_beta_sigmas": False, "use_lu_lambdas": False, "use_flow_sigmas": False,
                                    "flow_shift": 1.0, "final_sigmas_type": "zero",
                                    "lambda_min_clipped": -float("inf"), "variance_type": None,
                                    "timestep_spacing": "linspace", "use_dynamic_shifting": False,
                                    "time_shift_type": "exponential"},
    "DDIMScheduler": {**_COMMON, "clip_sample": True, "set_alpha_to_one": True, "clip_sample_range": 1.0,
                      "timestep_spacing": "leading"},
}  # fmt: skip
_SUPPORTED: dict[str, tuple[Any, ...]] = {
    "beta_schedule": ("linear", "scaled_linear"),
    "trained_betas": (None,),
    "prediction_type": ("epsilon",),
    "rescale_betas_zero_snr": (False,),
    "solver_order": (1, 2),
    "algorithm_type": ("dpmsolver++",),
    "solver_type": ("midpoint", "heun"),
    "euler_at_final": (False, True),
    "use_karras_sigmas": (False,),
    "use_exponential_sigmas": (False,),
    "use_beta_sigmas": (False,),
    "use_lu_lambdas": (False,),
    "use_flow_sigmas": (False,),
    "final_sigmas_type": ("zero", "sigma_min"),
    "lambda_min_clipped": (-float("inf"),),
    "variance_type": (None,),
    "use_dynamic_shifting": (False,),
    "timestep_spacing": ("linspace", "leading", "trailing"),
}


class SamplerConfig(dict):
    """A sampler's settings: a dict (what diffusers' ``from_config`` takes) with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class StepOutput:
    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor | None = None


def scheduler_for(class_name: str, config: dict, **options: Any) -> DPMSolver | DDIM | None:
    """Return this module's sampler for diffusers' ``class_name`` built like ``class_name.from_config(config,
    **options)``, or None when it is another sampler or uses a setting not implemented here."""
    if class_name not in _DEFAULTS:
        return None
    defaults = _DEFAULTS[class_name]
    settings = {key: value for key, value in {**config, **options}.items() if key in defaults}
    merged = SamplerConfig({**defaults, **settings, "_class_name": class_name})
    for key, allowed in _SUPPORTED.items():
        if key in merged and merged[key] not in allowed:
            return None
    return DPMSolver(merged) if class_name == "DPMSolverMultistepScheduler" else DDIM(merged)


def _alphas_cumprod(config: SamplerConfig) -> torch.Tensor:
    n = config.num_train_timesteps
    if config.beta_schedule == "linear":
        betas = torch.linspace(config.beta_start, config.beta_end, n, dtype=torch.float32)
    else:  # scaled_linear
        betas = torch.linspace(config.beta_start**0.5, config.beta_end**0.5, n, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def _threshold(sample: torch.Tensor, config: SamplerConfig) -> torch.Tensor:
    """Dynamic thresholding (Imagen): clamp each image's x0 to its ``ratio`` quantile of |x0| (at least 1), rescale."""
    dtype = sample.dtype
    batch, channels, *rest = sample.shape
    flat = sample.float() if dtype not in (torch.float32, torch.float64) else sample
    flat = flat.reshape(batch, channels * int(np.prod(rest)))
    s = torch.quantile(flat.abs(), config.dynamic_thresholding_ratio, dim=1)
    s = torch.clamp(s, min=1, max=config.sample_max_value).unsqueeze(1)
    return (torch.clamp(flat, -s, s) / s).reshape(batch, channels, *rest).to(dtype)


class _Sampler:
    """What the pipeline and the engine use of a diffusers scheduler."""

    order = 1
    init_noise_sigma = 1.0

    def __init__(self, config: SamplerConfig):
        self.config = config
        self.alphas_cumprod = _alphas_cumprod(config)
        self.num_inference_steps: int | None = None
        self.timesteps = torch.from_numpy(np.arange(0, config.num_train_timesteps)[::-1].copy().astype(np.int64))

    def scale_model_input(self, sample: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return sample

    def __len__(self) -> int:
        return int(self.config.num_train_timesteps)


class DPMSolver(_Sampler):
    """diffusers' ``DPMSolverMultistepScheduler`` with ``algorithm_type="dpmsolver++"``, order 1 or 2, no SDE."""

    def __init__(self, config: SamplerConfig):
        super().__init__(config)
        self.order = int(config.solver_order)
        self.alpha_t = torch.sqrt(self.alphas_cumprod)
        self.sigma_t = torch.sqrt(1 - self.alphas_cumprod)
        self.lambda_t = torch.log(self.alpha_t) - torch.log(self.sigma_t)
        self.sigmas = ((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5
        self.model_outputs: list[torch.Tensor | None] = [None] * self.order
        self.lower_order_nums = 0
        self._step_index: int | None = None

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        config, n = self.config, self.config.num_train_timesteps
        clipped = torch.searchsorted(torch.flip(self.lambda_t, [0]), config.lambda_min_clipped)
        last = (n - clipped).numpy().item()
        if config.timestep_spacing == "linspace":
            timesteps = np.linspace(0, last - 1, num_inference_steps + 1).round()[::-1][:-1].copy().astype(np.int64)
        elif config.timestep_spacing == "leading":
            ratio = last // (num_inference_steps + 1)
            timesteps = (np.arange(0, num_inference_steps + 1) * ratio).round()[::-1][:-1].copy().astype(np.int64)
            timesteps += config.steps_offset
        else:  # trailing
            timesteps = np.arange(last, 0, -n / num_inference_steps).round().copy().astype(np.int64) - 1
        sigmas = np.array(((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5)
        sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
        if config.final_sigmas_type == "sigma_min":
            last_sigma = float(((1 - self.alphas_cumprod[0]) / self.alphas_cumprod[0]) ** 0.5)
        else:
            last_sigma = 0.0
        self.sigmas = torch.from_numpy(np.concatenate([sigmas, [last_sigma]]).astype(np.float32))
        self.timesteps = torch.from_numpy(timesteps).to(device=device, dtype=torch.int64)
        self.num_inference_steps = len(timesteps)
        self.model_outputs = [None] * self.order
        self.lower_order_nums = 0
        self._step_index = None

    @staticmethod
    def _alpha_sigma(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        alpha = 1 / ((sigma**2 + 1) ** 0.5)
        return alpha, sigma * alpha

    def _index_for(self, timestep) -> int:
        candidates = (self.timesteps == timestep).nonzero()
        if len(candidates) == 0:
            return len(self.timesteps) - 1
        return int(candidates[1 if len(candidates) > 1 else 0].item())

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, *args, **kwargs) -> StepOutput:
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps before step")
        if self._step_index is None:
            t = timestep.to(self.timesteps.device) if isinstance(timestep, torch.Tensor) else timestep
            self._step_index = self._index_for(t)
        index, config, steps = self._step_index, self.config, len(self.timesteps)
        lower_order_final = index == steps - 1 and (
            config.euler_at_final or (config.lower_order_final and steps < 15) or config.final_sigmas_type == "zero"
        )
        lower_order_second = index == steps - 2 and config.lower_order_final and steps < 15
        # The data prediction x0 (epsilon model), dynamically thresholded when asked.
        alpha_s, sigma_s = self._alpha_sigma(self.sigmas[index])
        x0 = (sample - sigma_s * model_output) / alpha_s
        if config.thresholding:
            x0 = _threshold(x0, config)
        for i in range(self.order - 1):
            self.model_outputs[i] = self.model_outputs[i + 1]
        self.model_outputs[-1] = x0
        sample = sample.to(torch.float32)
        if self.order == 1 or self.lower_order_nums < 1 or lower_order_final:
            prev = self._first_order(x0, sample, index)
        else:
            del lower_order_second  # order 2 at most: the second-order update either way
            prev = self._second_order(sample, index)
        if self.lower_order_nums < self.order:
            self.lower_order_nums += 1
        self._step_index = index + 1
        return StepOutput(prev.to(x0.dtype))

    def _lambdas(self, *indices: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        out = []
        for i in indices:
            alpha, sigma = self._alpha_sigma(self.sigmas[i])
            out.append((alpha, sigma, torch.log(alpha) - torch.log(sigma)))
        return out

    def _first_order(self, x0: torch.Tensor, sample: torch.Tensor, index: int) -> torch.Tensor:
        (alpha_t, sigma_t, lambda_t), (_, sigma_s, lambda_s) = self._lambdas(index + 1, index)
        h = lambda_t - lambda_s
        return (sigma_t / sigma_s) * sample - (alpha_t * (torch.exp(-h) - 1.0)) * x0

    def _second_order(self, sample: torch.Tensor, index: int) -> torch.Tensor:
        (alpha_t, sigma_t, lambda_t), (_, sigma_s0, lambda_s0), (_, _, lambda_s1) = self._lambdas(
            index + 1, index, index - 1
        )
        m0, m1 = self.model_outputs[-1], self.model_outputs[-2]
        assert m0 is not None and m1 is not None
        h, h_0 = lambda_t - lambda_s0, lambda_s0 - lambda_s1
        r0 = h_0 / h
        d0, d1 = m0, (1.0 / r0) * (m0 - m1)
        if self.config.solver_type == "midpoint":
            return (
                (sigma_t / sigma_s0) * sample
                - (alpha_t * (torch.exp(-h) - 1.0)) * d0
                - 0.5 * (alpha_t * (torch.exp(-h) - 1.0)) * d1
            )
        return (
            (sigma_t / sigma_s0) * sample
            - (alpha_t * (torch.exp(-h) - 1.0)) * d0
            + (alpha_t * ((torch.exp(-h) - 1.0) / h + 1.0)) * d1
        )


class DDIM(_Sampler):
    """diffusers' ``DDIMScheduler``, deterministic (eta 0), epsilon prediction."""

    def __init__(self, config: SamplerConfig):
        super().__init__(config)
        self.final_alpha_cumprod = torch.tensor(1.0) if config.set_alpha_to_one else self.alphas_cumprod[0]

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        config, n = self.config, self.config.num_train_timesteps
        if num_inference_steps > n:
            raise ValueError(f"num_inference_steps {num_inference_steps} is more than the {n} training timesteps")
        self.num_inference_steps = num_inference_steps
        if config.timestep_spacing == "linspace":
            timesteps = np.linspace(0, n - 1, num_inference_steps).round()[::-1].copy().astype(np.int64)
        elif config.timestep_spacing == "leading":
            ratio = n // num_inference_steps
            timesteps = (np.arange(0, num_inference_steps) * ratio).round()[::-1].copy().astype(np.int64)
            timesteps += config.steps_offset
        else:  # trailing
            timesteps = np.round(np.arange(n, 0, -n / num_inference_steps)).astype(np.int64) - 1
        self.timesteps = torch.from_numpy(timesteps).to(device)

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, eta: float = 0.0, *args,
             **kwargs) -> StepOutput:  # fmt: skip
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps before step")
        if eta:
            raise ValueError("this DDIM is deterministic (eta 0); stochastic DDIM needs diffusers' DDIMScheduler")
        config = self.config
        prev_timestep = timestep - config.num_train_timesteps // self.num_inference_steps
        alpha_prod_t = self.alphas_cumprod[timestep]
        alpha_prod_t_prev = self.alphas_cumprod[prev_timestep] if prev_timestep >= 0 else self.final_alpha_cumprod
        beta_prod_t = 1 - alpha_prod_t
        x0 = (sample - beta_prod_t ** (0.5) * model_output) / alpha_prod_t ** (0.5)
        if config.thresholding:
            x0 = _threshold(x0, config)
        elif config.clip_sample:
            x0 = x0.clamp(-config.clip_sample_range, config.clip_sample_range)
        direction = (1 - alpha_prod_t_prev) ** (0.5) * model_output
        return StepOutput(alpha_prod_t_prev ** (0.5) * x0 + direction, x0)
