"""Loading backend pipelines: the bundled model, hub ids, local folders and single files, plus LoRAs."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..errors import ModelNotFoundError, PixelgifError
from ..morph.backend import Backend
from ..morph.denoiser import FAMILIES
from .backend import backend_of
from .cpu import cpu_has_native_bf16
from .lora import load_loras
from .presets import (
    BUNDLED,
    LORA_SCALE,
    MODEL_PRESETS,
    LoraPreset,
    ModelPreset,
    check_names,
    effective_model,
    find_lora_preset,
    hub_offline,
    is_hub_id,
    lora_list,
    parse_lora,
    resolve_model_name,
)

DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
}  # fmt: skip


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device``, or the best one available: CUDA, then Apple MPS, then CPU."""
    if device is not None and str(device) != "auto":
        try:
            resolved = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"unknown device {str(device)!r}; use auto, cpu, cuda, cuda:N or mps") from exc
        if resolved.type == "cuda" and not torch.cuda.is_available():
            raise PixelgifError(f"device {str(device)!r} asked for, but this torch has no CUDA GPU available")
        if resolved.type == "mps" and not torch.backends.mps.is_available():
            raise PixelgifError("device 'mps' asked for, but Apple MPS is not available here")
        return resolved
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(
    device: torch.device, dtype: str | torch.dtype | None = None, sprite_model: bool = False, loras: bool = False
) -> torch.dtype:
    """Return ``dtype``; for None/"auto": float16 on CUDA, and float32 elsewhere (fp16 on CPU is slow
    and lossy), except bfloat16 for a sprite model (the bundled architecture) with ``loras`` on a CPU
    that computes bf16 in hardware. Without LoRAs a sprite model's float32 UNet runs as an ONNX
    Runtime graph, which beats eager bfloat16 even on AMX (docs/speed.md).
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is not None and dtype != "auto":
        try:
            return DTYPES[dtype]
        except KeyError:
            raise ValueError(f"unknown dtype {dtype!r}; choose one of: auto, float32, float16, bfloat16") from None
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and sprite_model and loras and cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def load_backend(
    model: str | None = None,
    lora: str | list[str] | None = None,
    lora_scale: float = LORA_SCALE,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    vae: str | None = None,
) -> Backend:
    """Return the morph engine's `Backend`: `load_pipeline`'s pipeline, described by `backend_of`
    with the sampling defaults of the model's and its LoRAs' presets (LCM, TCD, turbo models)."""
    pipe = load_pipeline(model, lora=lora, lora_scale=lora_scale, device=device, dtype=dtype, vae=vae)
    return backend_of(pipe, presets_of(model, lora))


def presets_of(model: str | None, lora: str | list[str] | None = None) -> list[ModelPreset | LoraPreset | None]:
    """Return the presets of a run's model (a LoRA preset's base when none is given) and its LoRAs, in
    that order (None where a name is no preset): what `backend_of` takes the sampling defaults from."""
    base = MODEL_PRESETS.get(str(effective_model(model, lora)))
    return [base, *(find_lora_preset(name) for name, _ in map(parse_lora, lora_list(lora)))]


def load_pipeline(
    model: str | None = None,
    lora: str | list[str] | None = None,
    lora_scale: float = LORA_SCALE,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    vae: str | None = None,
):
    """Return a diffusers pipeline ready for the morph engine, with the LoRAs ``lora`` loaded.

    ``model`` is a preset name, a hub id, a local diffusers folder or a single-file
    ``.safetensors`` checkpoint; None means the bundled model, or a LoRA preset's base model.
    ``lora`` is one ``NAME[:WEIGHT]`` or a list of them, stacked as named adapters; a LoRA without a
    weight gets its preset's recommended weight times ``lora_scale`` (1 for others). The sampling
    defaults presets ask for are the backend's (`load_backend`), not the pipeline's. ``vae``
    replaces the model's VAE (a folder, hub id or single ``.safetensors`` file), e.g. the fp16-fix
    SDXL VAE ``madebyollin/sdxl-vae-fp16-fix``.
    """
    check_names(model, lora)
    device = resolve_device(device)
    model = effective_model(model, lora)  # a preset LoRA only fits its own base model
    sprite_model = model == BUNDLED or _is_sprite_model(str(model))
    dtype = resolve_dtype(device, dtype, sprite_model=sprite_model, loras=bool(lora_list(lora)))
    if vae is not None and sprite_model:
        raise PixelgifError("--vae replaces a Stable Diffusion model's VAE; the bundled sprite model has none")
    if model == BUNDLED:
        pipe = _load_bundled(device, dtype)
    elif _is_sprite_model(str(model)):
        pipe = _load_sprite_model(Path(str(model)).expanduser(), device, dtype)
    else:
        pipe = _load_diffusers(resolve_model_name(str(model)), dtype)
        check_pipeline(pipe, str(model))
        if vae is not None:
            pipe.vae = load_vae(vae, dtype)
        pipe = pipe.to(device)
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)  # the morph engine shows one bar over frames
    loras = [_weighted(spec, lora_scale) for spec in lora_list(lora)]
    if loras:
        load_loras(pipe, loras, model_name=str(model))
    return pipe


def _weighted(spec: str, lora_scale: float) -> tuple[str, float]:
    """Return (LoRA, weight) of ``spec`` (NAME or NAME:WEIGHT): without a weight, its preset's times ``lora_scale``."""
    name, weight = parse_lora(spec, default_weight=float("nan"))
    if weight == weight:  # given explicitly (not NaN)
        return name, weight
    preset = find_lora_preset(name)
    return name, (preset.weight if preset is not None else 1.0) * lora_scale  # 1.0: a LoRA's own weight


def load_vae(vae: str, dtype: torch.dtype):
    """Return the AutoencoderKL at ``vae``: a diffusers folder (or a pipeline folder's ``vae/``), a hub
    id, or a single ``.safetensors`` file."""
    from diffusers import AutoencoderKL

    path = Path(vae).expanduser()
    if path.is_file():
        return _wrap_load_errors(vae, lambda: AutoencoderKL.from_single_file(str(path), torch_dtype=dtype))
    if path.is_dir():
        folder = path / "vae" if (path / "vae" / "config.json").is_file() else path
        if not (folder / "config.json").is_file():
            raise ModelNotFoundError(f"VAE folder {vae!r} has no config.json; give a diffusers AutoencoderKL folder")
        return _wrap_load_errors(vae, lambda: AutoencoderKL.from_pretrained(folder, torch_dtype=dtype))
    if not is_hub_id(vae):
        raise ModelNotFoundError(f"VAE not found: no file or folder {vae!r}, and it is not a hub id (owner/name)")
    return _wrap_load_errors(
        vae,
        lambda: AutoencoderKL.from_pretrained(vae, torch_dtype=dtype, local_files_only=hub_offline()),
        hint="the VAE is not in the local cache; a hub id needs network access (or give a local path)",
    )


# Transformer pipelines whose encode_prompt returns the tensors its __call__ takes back by the same
# names (others, e.g. PixArt, return attention masks between them).
TRANSFORMER_PIPELINES = ("StableDiffusion3Pipeline", "FluxPipeline")


def check_pipeline(pipe, name: str) -> None:
    """Raise PixelgifError unless ``pipe`` has what the morph engine needs (see ARCHITECTURE.md)."""
    kind = type(pipe).__name__
    fits = all(hasattr(pipe, a) for a in ("encode_prompt", "vae_scale_factor")) and (
        hasattr(pipe, "unet") or kind in TRANSFORMER_PIPELINES
    )
    if not fits:
        raise PixelgifError(f"model {name!r} is a {kind}; pixelgif morphs with text-to-image models of {FAMILIES}")


def _load_bundled(device: torch.device, dtype: torch.dtype):
    """Return the bundled sprite pipeline, or a clear error while it is not available."""
    try:
        from .bundled import bundled_model_available, load_bundled_pipeline
    except ImportError:
        available = False
    else:
        available = bundled_model_available()
    if not available:
        raise ModelNotFoundError(
            "bundled model not available yet; pass --model with a diffusers folder, .safetensors file or hub id"
        )
    return load_bundled_pipeline(device=device, dtype=dtype)


def _is_sprite_model(model: str) -> bool:
    """Return True when ``model`` is a folder made by ``pixelgif train --full`` (the bundled architecture)."""
    from .bundled import is_sprite_model_folder

    return Path(model).expanduser().is_dir() and is_sprite_model_folder(model)


def _load_sprite_model(folder: Path, device: torch.device, dtype: torch.dtype):
    """Return a PixelSpritePipeline with the weights of ``folder``; one-line error when they do not load."""
    from .bundled import load_bundled_pipeline

    return _wrap_load_errors(str(folder), lambda: load_bundled_pipeline(device=device, dtype=dtype, weights_dir=folder))


def _load_diffusers(model: str, dtype: torch.dtype):
    """Return the pipeline at ``model`` (path or hub id) in ``dtype``, on CPU."""
    from diffusers import DiffusionPipeline

    path = Path(model).expanduser()
    if path.is_file():
        return _load_single_file(path, dtype)
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelNotFoundError(
                f"model folder {model!r} has no model_index.json; give a diffusers pipeline folder "
                "(saved with save_pretrained) or a single-file .safetensors checkpoint"
            )
        return _wrap_load_errors(
            model, lambda: DiffusionPipeline.from_pretrained(path, torch_dtype=dtype, local_files_only=True)
        )
    if not is_hub_id(model):
        raise ModelNotFoundError(f"model not found: no file or folder {model!r}, and it is not a hub id (owner/name)")
    return _wrap_load_errors(
        model,
        lambda: DiffusionPipeline.from_pretrained(model, torch_dtype=dtype, local_files_only=hub_offline()),
        hint="no local file or folder of that name, and the hub id is not in the local cache; a hub id needs "
        "network access (or give a local path)",
    )


def _load_single_file(path: Path, dtype: torch.dtype):
    """Return a Stable Diffusion (1.x, 2.x, XL, 3/3.5) or Flux pipeline from one ``.safetensors`` checkpoint file."""
    if path.suffix != ".safetensors":
        raise PixelgifError(
            f"model file {str(path)!r} is not .safetensors; pixelgif only loads single-file checkpoints in "
            "safetensors format (pickled .ckpt files can run code)"
        )
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
    except Exception as exc:
        raise PixelgifError(f"model file {str(path)!r} is not a readable safetensors file: {exc}") from exc
    family = single_file_family(keys)
    if family is None:
        raise PixelgifError(
            f"model file {str(path)!r} is not a Stable Diffusion, SD3 or Flux checkpoint (no model.diffusion_model.*, "
            "joint_blocks or double_blocks weights); a LoRA goes to --lora"
        )
    import diffusers

    return _wrap_load_errors(
        str(path),
        lambda: getattr(diffusers, family).from_single_file(
            str(path), torch_dtype=dtype, local_files_only=hub_offline()
        ),
        hint="a single-file checkpoint needs its base model's config files, which diffusers downloads from the hub "
        "once: this needs network access (or the base model in the local cache, or give a diffusers folder)",
    )


def single_file_family(keys: list[str]) -> str | None:
    """Return the diffusers pipeline class name for a single-file checkpoint with tensors ``keys``, or None."""
    if any(k.startswith(("double_blocks.", "model.diffusion_model.double_blocks.")) for k in keys):
        return "FluxPipeline"  # the original Flux layout (transformer only, or under ComfyUI's prefix)
    if any(k.startswith("model.diffusion_model.joint_blocks.") for k in keys):
        return "StableDiffusion3Pipeline"
    if any(k.startswith("conditioner.embedders.1") for k in keys):
        return "StableDiffusionXLPipeline"  # SDXL's second text encoder, in the original repo's layout
    if any(k.startswith("model.diffusion_model.") for k in keys):
        return "StableDiffusionPipeline"
    return None


def _wrap_load_errors(name: str, load, hint: str | None = None):
    """Return ``load()``, turning hub and file errors into one ModelNotFoundError line.

    With ``hint`` (the load may go to the hub) any error is reported with it; without, only file
    errors are, and anything else is a bug that keeps its traceback.
    """
    try:
        with warnings.catch_warnings():
            # diffusers >= 0.36 renamed torch_dtype to dtype; older ones only know torch_dtype.
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            return load()
    except PixelgifError:
        raise
    except Exception as exc:
        from safetensors import SafetensorError  # a truncated or corrupt weights file

        if hint is None and not isinstance(exc, (OSError, ValueError, SafetensorError)):
            raise
        reason = " ".join(str(exc).split())[:240]
        if "outgoing traffic has been disabled" in reason:
            reason = "HF_HUB_OFFLINE is set, so nothing was downloaded"
        raise ModelNotFoundError(
            f"could not load model {name!r}: {hint + '. ' if hint else ''}Details: {reason}"
        ) from exc
