"""`MorphConfig`, the settings of one morph, and the scheduler names; no torch, so checks are instant.

`pixelgif.pipeline` re-exports `MorphConfig`; it lives here so that the CLI and the settings file
can validate input before torch and diffusers load.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

EASINGS = ("linear", "ease-in-out")
TEXT_INTERPOLATIONS = ("linear", "slerp")
SPACINGS = ("even", "linear")  # frame placement: even perceptual steps, or plain even steps in t

# Name -> (diffusers class, options for from_config). Looked up case- and punctuation-insensitively.
SCHEDULERS: dict[str, tuple[str, dict]] = {
    "DDIM": ("DDIMScheduler", {}),
    "DDPM": ("DDPMScheduler", {}),
    "PNDM": ("PNDMScheduler", {"skip_prk_steps": True}),
    "LMS": ("LMSDiscreteScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "DPM-Solver++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "DPM-Solver++-Karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True}),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2-a": ("KDPM2AncestralDiscreteScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "DEIS": ("DEISMultistepScheduler", {}),
}
_ALIASES = {"dpm++": "DPM-Solver++", "dpmpp": "DPM-Solver++", "dpm++karras": "DPM-Solver++-Karras",
            "eulerancestral": "Euler-a", "unipcmultistep": "UniPC", "lmsdiscrete": "LMS"}  # fmt: skip
MAX_SEED = 2**63 - 1


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9+]", "", name.lower())


def canonical_scheduler(name: str | None) -> str | None:
    """Return the canonical spelling of scheduler ``name``; None or "default" means the model's own."""
    if name is None or _squash(name) in {"", "default", "model"}:
        return None
    table = {_squash(k): k for k in SCHEDULERS} | {_squash(k): v for k, v in _ALIASES.items()}
    try:
        return table[_squash(name)]
    except KeyError:
        raise ValueError(
            f"unknown scheduler {name!r}; choose one of: {', '.join(SCHEDULERS)} (or 'default' for the model's own)"
        ) from None


def scheduler_spec(name: str) -> tuple[str, dict]:
    """Return (diffusers class name, from_config options) for scheduler ``name``."""
    return SCHEDULERS[canonical_scheduler(name)]


@dataclass
class MorphConfig:
    """Everything that decides the frames of a morph. None means "the model's default"."""

    prompts: list[str]
    frames: int = 12  # per transition, counting its start keyframe but not its end
    loop: bool = False
    seed: int = 0
    seeds: list[int] | None = None  # one per prompt; default seed + index
    steps: int | None = None
    guidance_scale: float | None = None
    width: int | None = None
    height: int | None = None
    scheduler: str | None = None
    easing: str = "linear"
    text_interpolation: str = "linear"
    negative_prompt: str | None = None
    batch_size: int | None = None  # frames per backend call; None: the model's suggestion
    spacing: str = "even"  # "even": re-placed so every step changes the picture equally; "linear": plain t
    same_noise: bool = False  # every keyframe starts from the noise of ``seed``: only the text morphs

    def __post_init__(self):
        self._check_prompts()
        self._check_numbers()
        self._check_seeds()
        if self.easing not in EASINGS:
            raise ValueError(f"unknown easing {self.easing!r}; choose one of: {', '.join(EASINGS)}")
        if self.text_interpolation not in TEXT_INTERPOLATIONS:
            raise ValueError(
                f"unknown text interpolation {self.text_interpolation!r}; choose one of: {', '.join(TEXT_INTERPOLATIONS)}"
            )
        if self.spacing not in SPACINGS:
            raise ValueError(f"unknown spacing {self.spacing!r}; choose one of: {', '.join(SPACINGS)}")
        self.scheduler = canonical_scheduler(self.scheduler)
        self.negative_prompt = self.negative_prompt or None

    def _check_prompts(self) -> None:
        if isinstance(self.prompts, str) or not isinstance(self.prompts, (list, tuple)):
            raise ValueError("prompts must be a list of two or more strings")
        self.prompts = list(self.prompts)
        if len(self.prompts) < 2:
            raise ValueError(f"a morph needs at least two prompts, got {len(self.prompts)}")
        for number, prompt in enumerate(self.prompts, 1):
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"prompt {number} is empty; every keyframe needs a prompt")

    def _check_numbers(self) -> None:
        _check_int("frames", self.frames, 2, "frames per transition")
        if self.batch_size is not None:
            _check_int("batch_size", self.batch_size, 1, "batch size")
        if self.steps is not None:
            _check_int("steps", self.steps, 1, "steps")
        if self.guidance_scale is not None:
            if isinstance(self.guidance_scale, bool) or not isinstance(self.guidance_scale, (int, float)):
                raise ValueError(f"guidance scale must be a number, got {self.guidance_scale!r}")
            if not self.guidance_scale >= 0:  # also rejects NaN
                raise ValueError(f"guidance scale must be 0 or more, got {self.guidance_scale}")
            self.guidance_scale = float(self.guidance_scale)
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value, 8, name)
                if value % 8:
                    lower, upper = value // 8 * 8, value // 8 * 8 + 8
                    raise ValueError(f"{name} must be a multiple of 8, got {value} (try {lower} or {upper})")

    def _check_seeds(self) -> None:
        _check_int("seed", self.seed, 0, "seed", upper=MAX_SEED)
        if not isinstance(self.same_noise, bool):
            raise ValueError(f"same_noise must be true or false, got {self.same_noise!r}")
        if self.seeds is None:
            return
        self.seeds = list(self.seeds)
        if len(self.seeds) != len(self.prompts):
            raise ValueError(f"got {len(self.seeds)} seeds for {len(self.prompts)} prompts; give one per prompt")
        for seed in self.seeds:
            _check_int("seeds", seed, 0, "each seed", upper=MAX_SEED)
        if self.same_noise and len(set(self.seeds)) > 1:
            raise ValueError("conflicting options: same noise uses one seed for every keyframe; give a single seed")

    @property
    def keyframe_seeds(self) -> list[int]:
        """Return one seed per prompt: ``seeds`` if given, else ``seed`` for all (same noise) or ``seed + index``."""
        if self.seeds is not None:
            return list(self.seeds)
        return [self.seed + (0 if self.same_noise else i) for i in range(len(self.prompts))]

    @property
    def num_frames(self) -> int:
        """Return the number of frames: (K - 1) * frames + 1, or K * frames when looping."""
        count = len(self.prompts)
        return count * self.frames if self.loop else (count - 1) * self.frames + 1

    def to_dict(self) -> dict:
        """Return the settings as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "MorphConfig":
        """Return a config from `to_dict` output; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown morph setting(s): {', '.join(unknown)}")
        return cls(**data)


def _check_int(name: str, value, lower: int, what: str, upper: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    if value < lower:
        raise ValueError(f"{what} must be at least {lower}, got {value}")
    if upper is not None and value > upper:
        raise ValueError(f"{what} must be at most {upper}, got {value}")
