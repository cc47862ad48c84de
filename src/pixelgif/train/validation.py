"""Validation renders during training: the validation prompts side by side, and a short morph GIF.

Both come from one ``MorphPipeline`` run over the model being trained (the keyframes are the
prompts' renders), so the user sees both what each prompt looks like and how the LoRA morphs.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..outputs import atomic_output


def render_validation(pipe, prompts: list[str], folder: Path, name: str, *, seed: int, frames: int,
                      steps: int | None, size: int, presets=()) -> list[Path]:  # fmt: skip
    """Render ``prompts`` with ``pipe``; write ``folder/name.png`` (the prompts) and ``name.gif``; return both.

    ``presets``: the base model's (`pixelgif.models.loading.presets_of`), whose sampling defaults
    (a turbo model's steps, guidance and scheduler) the renders use as a morph would."""
    from ..encode import EncodeConfig, write_animation
    from ..models.backend import backend_of
    from ..morph.config import MorphConfig
    from ..morph.engine import MorphPipeline
    from ..morph.keyframes import Keyframe

    keyframes: list[str | Keyframe] = list(prompts if len(prompts) > 1 else [*prompts, *prompts])  # 1: 2 seeds
    config = MorphConfig(prompts=keyframes, frames=frames, seed=seed, steps=steps, width=size, height=size)
    result = MorphPipeline(backend_of(pipe, presets), progress=False)(config)
    folder.mkdir(parents=True, exist_ok=True)
    strip = _side_by_side([result.frames[i] for i in result.keyframe_indices[: len(keyframes)]])
    png = folder / f"{name}.png"
    with atomic_output(png) as tmp:
        strip.save(tmp, format="PNG")
    scale = max(1, 256 // max(result.size))  # small pixel art is hard to see at 1:1
    gif = write_animation(result.pixel_frames, folder / f"{name}.gif", EncodeConfig(scale=scale, hold=400),
                          keyframes=result.keyframe_indices)  # fmt: skip
    return [png, Path(gif)]


def _side_by_side(images: list[Image.Image]) -> Image.Image:
    """Return ``images`` (same size) in one row."""
    width, height = images[0].size
    row = Image.new(images[0].mode, (width * len(images), height), "white")
    for i, image in enumerate(images):
        row.paste(image, (i * width, 0))
    return row
