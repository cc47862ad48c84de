"""`MorphConfig`, the settings of one morph, and the scheduler names; no torch, so checks are instant.

It lives apart from the engine so that the CLI, the web UI and the settings file can validate
input before torch and diffusers load.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from ..checks import check_bool, check_choice, check_int, check_number
from .keyframes import Keyframe, as_keyframe
from .schedule import EASINGS, num_frames

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
    "DPM-Solver++-Karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True},
    ),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2-a": ("KDPM2AncestralDiscreteScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "DEIS": ("DEISMultistepScheduler", {}),
    # Few-step samplers for their distilled LoRAs and models (LCM-LoRA, TCD, SD-/SDXL-Turbo).
    "LCM": ("LCMScheduler", {}),
    "TCD": ("TCDScheduler", {}),
    "Euler-trailing": ("EulerDiscreteScheduler", {"timestep_spacing": "trailing"}),
    "DDIM-trailing": ("DDIMScheduler", {"timestep_spacing": "trailing"}),  # Hyper-SD's LoRAs
    # DDIM with no clipping or thresholding of its x0 estimate: exactly what DDIM inversion inverts,
    # so image keyframes default to it (clipping breaks the round trip of pixel-space models).
    "DDIM-exact": ("DDIMScheduler", {"clip_sample": False, "thresholding": False}),
}
_ALIASES = {"dpm++": "DPM-Solver++", "dpmpp": "DPM-Solver++", "dpm++karras": "DPM-Solver++-Karras",
            "eulerancestral": "Euler-a", "unipcmultistep": "UniPC", "lmsdiscrete": "LMS"}  # fmt: skip
MAX_SEED = 2**63 - 1
# Beyond these a run is a typo, not a wish: hours of rendering or a picture no model can hold.
MAX_FRAMES = 1000  # per transition
MAX_STEPS = 1000  # the noise schedules have 1000 timesteps
MAX_SIZE = 4096  # pixels a side


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
    canonical = canonical_scheduler(name)
    if canonical is None:
        raise ValueError(f"scheduler {name!r} means the model's own scheduler, which has no spec")
    return SCHEDULERS[canonical]


@dataclass
class MorphConfig:
    """Everything that decides the frames of a morph. None means "the model's default".

    ``prompts``: one entry per keyframe, a prompt (str) or an image `Keyframe` (a dict as a
    settings file records it, or a PIL image, is turned into one).
    """

    prompts: list[str | Keyframe]
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
    # Segments with an image keyframe: AdaIN keeps the in-between noise's per-channel statistics on
    # the path between the ends; midway_guidance (0-1) brings this share of the guidance back midway
    # (neutral at the inverted keyframes, the in-betweens would be pale blobs; settings files from
    # before 0.5 was the default have no key and replay with 0).
    adain: bool = True
    midway_guidance: float = 0.5
    # A prompt that names a drawing in the model's sprite library (the bundled model has one) starts
    # from that drawing, recoloured to the colour it names; False: the model draws every keyframe.
    library: bool = True
    # In-betweens are brought up to their keyframes' colour and contrast (`vivid`): no pale blobs.
    vivid: bool = True
    # A keyframe prompt that names a colour ("a black cat") but renders without it is turned to that
    # colour (backends that can: the bundled model), then morphs like a drawing keyframe.
    keyframe_colours: bool = True
    # In-betweens between two drawings (library or image keyframes) on a pixel-space model start
    # from the two drawings' pixels moved into each other by optimal transport (`shapes`), noised
    # and denoised over this share of the steps midway (less towards the keyframes), so the
    # silhouette deforms instead of cross-fading; 0: they start from noise like any in-between
    # (settings files from before shape starts have no key and replay with 0).
    shapes: float = 0.7
    # Guidance of those in-betweens: 1 turns it off, so a step takes one model evaluation instead of
    # two; the moved drawing already holds the shape and colours (docs/morph.md measures both).
    # None: the run's guidance scale (settings files from before have no key and replay with None).
    shape_guidance: float | None = 1.0
    # A prompt keyframe the model draws is drawn first and then morphs like a drawing: its
    # in-betweens start from moved pixels too (``shapes``), with the render's own noise; False: they
    # render from noise under guidance (settings files from before have no key and replay with False).
    shapes_for_renders: bool = True

    def __post_init__(self):
        self._check_prompts()
        self._check_numbers()
        self._check_seeds()
        check_choice("easing", self.easing, tuple(EASINGS))
        check_choice("text interpolation", self.text_interpolation, TEXT_INTERPOLATIONS)
        check_choice("spacing", self.spacing, SPACINGS)
        check_bool("adain", self.adain)
        check_bool("library", self.library)
        check_bool("vivid", self.vivid)
        check_bool("keyframe colours", self.keyframe_colours)
        check_bool("shapes for renders", self.shapes_for_renders)
        self.midway_guidance = check_number("midway guidance", self.midway_guidance, 0, 1)
        self.shapes = check_number("shapes", self.shapes, 0, 1)
        if self.shape_guidance is not None:
            self.shape_guidance = check_number("shape guidance", self.shape_guidance, 0)
        self.scheduler = canonical_scheduler(self.scheduler)
        self.negative_prompt = self.negative_prompt or None

    def _check_prompts(self) -> None:
        if isinstance(self.prompts, str) or not isinstance(self.prompts, (list, tuple)):
            raise ValueError("prompts must be a list of two or more keyframes (prompts or images)")
        self.prompts = [as_keyframe(prompt) for prompt in self.prompts]
        if len(self.prompts) < 2:
            raise ValueError(
                f"a morph needs at least two prompts, got {len(self.prompts)} (a keyframe is a prompt or an image)"
            )
        for number, prompt in enumerate(self.prompts, 1):
            if isinstance(prompt, Keyframe):
                continue
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"prompt {number} is empty; every keyframe needs a prompt or an image")

    def _check_numbers(self) -> None:
        self.frames = check_int("frames per transition", self.frames, 2, MAX_FRAMES)
        if self.batch_size is not None:
            self.batch_size = check_int("batch size", self.batch_size, 1)
        if self.steps is not None:
            self.steps = check_int("steps", self.steps, 1, MAX_STEPS)
        if self.guidance_scale is not None:
            self.guidance_scale = check_number("guidance scale", self.guidance_scale, 0)
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None:
                check_int(name, value, 8, MAX_SIZE)
                if value % 8:
                    lower, upper = value // 8 * 8, value // 8 * 8 + 8
                    raise ValueError(f"{name} must be a multiple of 8, got {value} (try {lower} or {upper})")

    def _check_seeds(self) -> None:
        self.seed = check_int("seed", self.seed, 0, MAX_SEED)
        check_bool("same_noise", self.same_noise)
        if self.seeds is None:
            return
        self.seeds = list(self.seeds)
        if len(self.seeds) != len(self.prompts):
            raise ValueError(f"got {len(self.seeds)} seeds for {len(self.prompts)} prompts; give one per prompt")
        for seed in self.seeds:
            check_int("each seed", seed, 0, MAX_SEED)
        if self.same_noise and len(set(self.seeds)) > 1:
            raise ValueError("conflicting options: same noise uses one seed for every keyframe; give a single seed")

    @property
    def keyframe_seeds(self) -> list[int]:
        """Return one seed per prompt: ``seeds`` if given, else ``seed`` for all (same noise) or ``seed + index``."""
        if self.seeds is not None:
            return list(self.seeds)
        return [self.seed + (0 if self.same_noise else i) for i in range(len(self.prompts))]

    @property
    def image_keyframes(self) -> dict[int, Keyframe]:
        """Return the image keyframes by their position among the keyframes."""
        return {i: k for i, k in enumerate(self.prompts) if isinstance(k, Keyframe)}

    @property
    def keyframe_texts(self) -> list[str | None]:
        """Return each keyframe's text: its prompt, an image's caption, or None for an image without one."""
        return [k.caption if isinstance(k, Keyframe) else k for k in self.prompts]

    @property
    def num_frames(self) -> int:
        """Return the number of frames this morph has (see `schedule.num_frames`)."""
        return num_frames(len(self.prompts), self.frames, self.loop)

    def to_dict(self) -> dict:
        """Return the settings as a JSON-ready dict (image keyframes as path, caption and hash)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["prompts"] = [k.to_dict() if isinstance(k, Keyframe) else k for k in self.prompts]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> MorphConfig:
        """Return a config from `to_dict` output; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown morph setting(s): {', '.join(unknown)}")
        return cls(**data)
