"""LoRA files: find, read safely, normalise old formats, load into a pipeline, convert to safetensors."""

from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path

import torch

from ..errors import ModelNotFoundError, PixelgifError
from .presets import LORA_PRESETS, find_lora_preset, hub_offline, is_hub_id

ADAPTER_NAME = "pixelgif"  # adapters are pixelgif-0, pixelgif-1, ... in --lora order
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")
_KOHYA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")
_COMPONENT_PREFIXES = ("unet.", "transformer.", "text_encoder.", "text_encoder_2.")


def read_lora(lora: str) -> dict[str, torch.Tensor]:
    """Return the state dict of ``lora``: a preset name, a file, a folder or a hub id."""
    preset = find_lora_preset(lora)
    if preset is not None:
        return _read_hub_lora(
            preset.repo_id, [preset.weight_name] if preset.weight_name else None, offline=hub_offline()
        )
    path = Path(lora).expanduser()
    if path.is_file():
        return read_lora_file(path)
    if path.is_dir():
        return read_lora_file(_find_in_folder(path))
    if is_hub_id(lora):
        return _read_hub_lora(lora, None, offline=hub_offline())
    raise ModelNotFoundError(
        f"LoRA not found: no file or folder {lora!r}, no preset of that name ({', '.join(LORA_PRESETS)}), "
        "and it is not a hub id (owner/name)"
    )


def read_lora_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Return the tensors in a ``.safetensors`` or legacy ``.bin`` LoRA file, never unpickling code."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state_dict = load_file(str(path), device="cpu")
        except Exception as exc:
            raise PixelgifError(f"LoRA file {str(path)!r} is not a readable safetensors file: {exc}") from exc
    elif path.suffix in PICKLE_SUFFIXES:
        try:
            # weights_only: tensors and plain containers only; a file that hides code is refused.
            state_dict = torch.load(str(path), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
            blocked = re.search(r"(unsupported GLOBAL \S+)", str(exc))
            detail = f" ({blocked.group(1)})" if blocked else ""
            raise PixelgifError(
                f"LoRA file {str(path)!r} holds more than plain tensors{detail}; pixelgif never unpickles code. "
                "Use a .safetensors file"
            ) from exc
    else:
        raise PixelgifError(f"LoRA file {str(path)!r} must be .safetensors (or a legacy .bin)")
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise PixelgifError(f"LoRA file {str(path)!r} does not hold a dictionary of tensors")
    return state_dict


def normalize_lora(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return ``state_dict`` with every key under a component (``unet.``, ``transformer.``, ``text_encoder.``);
    kohya files as they are.

    Files saved by ``unet.save_attn_procs`` (diffusers < 0.17, e.g. the 2023 pixel-art LoRAs) name
    bare UNet layers; current diffusers silently skips such keys, loading nothing.
    """
    keys = list(state_dict)
    if all(k.startswith(_KOHYA_PREFIXES) for k in keys) or any(k.startswith(_COMPONENT_PREFIXES) for k in keys):
        return dict(state_dict)
    return {f"unet.{k}": v for k, v in state_dict.items()}


def load_loras(pipe, loras: list[tuple[str, float]], model_name: str = "the model") -> None:
    """Load every (LoRA, weight) into ``pipe`` as named adapters ``pixelgif-0``, ``pixelgif-1``, ...
    active together at their weights; raise PixelgifError naming the first that does not fit."""
    if not hasattr(pipe, "load_lora_weights"):
        raise PixelgifError(f"model {model_name!r} does not take LoRAs; LoRAs are for Stable Diffusion models")
    stale = [name for name in _loaded_adapters(pipe) if name.startswith(ADAPTER_NAME)]
    if stale:
        pipe.delete_adapters(stale)  # a reused pipeline swaps LoRAs
    names = []
    for index, (lora, _) in enumerate(loras):
        state_dict = normalize_lora(read_lora(lora))
        name = f"{ADAPTER_NAME}-{index}"
        try:
            with _quiet("diffusers", "peft"):  # they log the whole mismatch report; we say it in one line
                pipe.load_lora_weights(state_dict, adapter_name=name)
        except (ValueError, RuntimeError, KeyError, IndexError, TypeError) as exc:
            raise PixelgifError(f"LoRA {lora!r} does not fit model {model_name!r}: {explain_mismatch(exc)}") from exc
        if name not in _loaded_adapters(pipe):
            raise PixelgifError(
                f"LoRA {lora!r} does not fit model {model_name!r}: none of its {len(state_dict)} tensors name a "
                "layer of the model's UNet, transformer or text encoders"
            )
        names.append(name)
    if names:
        pipe.set_adapters(names, adapter_weights=[float(weight) for _, weight in loras])


def load_lora(pipe, lora: str, scale: float = 1.0, model_name: str = "the model") -> None:
    """Load one ``lora`` into ``pipe`` at weight ``scale`` (see `load_loras`)."""
    load_loras(pipe, [(lora, scale)], model_name)


def explain_mismatch(exc: BaseException) -> str:
    """Return a short reason why a LoRA failed to load, from the diffusers/peft error ``exc``."""
    text = str(exc)
    size = re.search(r"size mismatch for (\S+?): copying a param with shape (torch.Size\(\[[^\]]*\]\)) from "
                     r"checkpoint, the shape in current model is (torch.Size\(\[[^\]]*\]\))", text)  # fmt: skip
    if size:
        count = text.count("size mismatch for")
        layer = re.sub(rf"\.{ADAPTER_NAME}-\d+\.", ".", size.group(1))
        return (f"{count} layer(s) have other shapes, e.g. {layer} is {size.group(2)[11:-1]} in the LoRA but "
                f"{size.group(3)[11:-1]} in the model; it was made for another base model")  # fmt: skip
    missing = re.search(r"Target modules \{'([^']+)'", text)
    if missing:
        return f"its layers are not in the model (e.g. {missing.group(1)}); it was made for another kind of model"
    return " ".join(text.split())[:200]


class _quiet:
    """Context manager: silence the named loggers below ERROR+1 while it is open."""

    def __init__(self, *names: str):
        self.loggers = [logging.getLogger(name) for name in names]
        self.levels: list[int] = []

    def __enter__(self):
        self.levels = [log.level for log in self.loggers]
        for log in self.loggers:
            log.setLevel(logging.CRITICAL)

    def __exit__(self, *exc):
        for log, level in zip(self.loggers, self.levels, strict=True):
            log.setLevel(level)


def _loaded_adapters(pipe) -> set[str]:
    """Return the names of the adapters loaded into any component of ``pipe``."""
    try:
        return {name for names in pipe.get_list_adapters().values() for name in names}
    except (AttributeError, ValueError):
        return set()


def convert_lora_file(src: str | Path, dst: str | Path) -> Path:
    """Write the LoRA at ``src`` (a legacy ``.bin`` or any LoRA file) to ``dst`` as safetensors; return ``dst``."""
    from diffusers.utils.state_dict_utils import convert_unet_state_dict_to_peft
    from safetensors.torch import save_file

    from ..outputs import atomic_output

    state_dict = normalize_lora(read_lora_file(src))
    unet = {k[len("unet.") :]: v for k, v in state_dict.items() if k.startswith("unet.")}
    if unet and not any("lora_A" in k for k in unet):
        unet = convert_unet_state_dict_to_peft(unet)  # to_q_lora.down -> to_q.lora_A, as diffusers loads it
    out = {k: v for k, v in state_dict.items() if not k.startswith("unet.")}
    out.update({f"unet.{k}": v for k, v in unet.items()})
    with atomic_output(dst) as tmp:
        save_file({k: v.contiguous() for k, v in out.items()}, str(tmp), metadata={"format": "pt"})
    return Path(dst)


def _find_in_folder(folder: Path) -> Path:
    """Return the LoRA weights file in ``folder``: safetensors first, then a legacy .bin."""
    for name in ("pytorch_lora_weights.safetensors", "pytorch_lora_weights.bin"):
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.safetensors")) or sorted(p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if len(found) != 1:
        what = "no LoRA weights file" if not found else f"{len(found)} candidate files"
        raise ModelNotFoundError(f"LoRA folder {str(folder)!r} has {what}; name the file itself with --lora")
    return found[0]


def _read_hub_lora(repo_id: str, names: list[str] | None, offline: bool) -> dict[str, torch.Tensor]:
    """Return a LoRA from the hub cache, downloading it first when online."""
    from huggingface_hub import hf_hub_download

    candidates = names or ["pytorch_lora_weights.safetensors", "pytorch_lora_weights.bin"]
    for candidate in candidates:  # the cache first: no network round trip, and it works offline
        try:
            return read_lora_file(hf_hub_download(repo_id, candidate, local_files_only=True))
        except Exception:
            continue
    needs_network = (
        f"LoRA {repo_id!r} not found: looked for a local file or folder of that name and for the Hugging Face hub "
        f"id in the local cache; a hub id needs network access (or download it and pass the local path)"
    )
    if offline:
        raise ModelNotFoundError(needs_network + " and HF_HUB_OFFLINE is set")
    from huggingface_hub import model_info

    try:
        # One quick request: hf_hub_download itself retries for ~20 s when there is no network.
        files = {s.rfilename for s in model_info(repo_id).siblings or []}
    except Exception as exc:
        raise ModelNotFoundError(f"{needs_network} ({type(exc).__name__})") from exc
    name = next((n for n in candidates if n in files), None)
    if name is None:
        name = next(iter(sorted(f for f in files if f.endswith(".safetensors"))), None)
    if name is None:
        raise ModelNotFoundError(f"hub repo {repo_id!r} has no LoRA weights file ({', '.join(candidates)})")
    try:
        return read_lora_file(hf_hub_download(repo_id, name))
    except PixelgifError:
        raise
    except Exception as exc:
        raise ModelNotFoundError(f"could not download {name} from {repo_id!r}: {exc}") from exc
