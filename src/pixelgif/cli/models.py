"""``pixelgif models``: list the bundled model and the presets; convert legacy LoRA files."""

from __future__ import annotations

import argparse

EPILOG = """\
--model also takes a hub id (owner/name), a local diffusers folder or a single-file .safetensors
checkpoint; --lora takes a hub id, a folder or a .safetensors file. Hub ids need network access
the first time (then they are cached).

examples:
  pixelgif models
  pixelgif models convert-lora pytorch_lora_weights.bin pixelart.safetensors"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "models", help="list models and LoRA presets; convert LoRA files", description=__doc__.split(":", 1)[1].strip(),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    convert = commands.add_parser(
        "convert-lora", help="convert a legacy .bin LoRA to .safetensors",
        description="Convert a LoRA file (a legacy pytorch_lora_weights.bin, read as plain tensors only, or any "
                    "LoRA file) to .safetensors in the format current diffusers loads.",
    )  # fmt: skip
    convert.add_argument("source", metavar="IN", help="LoRA file to read (.bin or .safetensors)")
    convert.add_argument("target", metavar="OUT", help="file to write (.safetensors)")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    if getattr(args, "models_command", None) == "convert-lora":
        return convert_lora(args.source, args.target)
    print(listing())
    return 0


def convert_lora(source: str, target: str) -> int:
    from pathlib import Path

    from ..errors import PixelgifError
    from ..models.lora import convert_lora_file

    if Path(target).suffix != ".safetensors":
        raise PixelgifError(f"output {target!r} must end in .safetensors")
    if not Path(source).is_file():
        raise PixelgifError(f"LoRA file not found: {source!r}")
    path = convert_lora_file(source, target)
    print(f"wrote {path} (use it with --lora {path})")
    return 0


def listing() -> str:
    """Return the text of `pixelgif models`."""
    from ..models.presets import LORA_PRESETS, MODEL_PRESETS, RENAMED_MODELS

    lines = ["Bundled model (the default; offline, CPU-friendly):"]
    lines.append(f"  {'bundled':<22}{_bundled_status()}")
    lines.append("")
    lines.append("Model presets (--model NAME):")
    for preset in MODEL_PRESETS.values():
        lines.append(f"  {preset.name:<22}{preset.repo_id}  {preset.description}")
    for old, new in RENAMED_MODELS.items():
        lines.append(f"  {'':<22}({old} is read as {new})")
    lines.append("")
    lines.append("Pixel-art LoRA presets (--lora NAME; without --model their base model is used):")
    for lora in LORA_PRESETS.values():
        base = next((p.name for p in MODEL_PRESETS.values() if p.repo_id == lora.base_model), lora.base_model)
        lines.append(f"  {lora.name:<22}{lora.repo_id}  (base {base}) {lora.description}")
    return "\n".join(lines)


def _bundled_status() -> str:
    try:
        from ..models.bundled import BUNDLED_DESCRIPTION, bundled_model_available
    except ImportError:
        return "not available yet"
    return BUNDLED_DESCRIPTION + ("" if bundled_model_available() else "  [weights not installed]")
