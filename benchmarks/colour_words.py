"""Do "a <colour> <thing>" keyframes have the named colour? The library's and the model's alone.

11 colours (red, orange, yellow, green, blue, purple, pink, brown, black, white, grey) x 11 things
(animals, vehicles, food, objects) x seeds 0-3, keyframes only (no in-betweens): the sprite library's
drawing, recoloured, where the thing is in it (the model's render otherwise), and the model's render
alone (``--no-library``): its raw render, and the keyframe a morph makes of it (the render
turned to the colour when it lacks it, `MorphConfig.keyframe_colours`). A keyframe has the colour when `colours.has_colour` says so (the share
of its opaque pixels that reads as the colour in OKLab: hue family, brown by hue and lightness,
black/white/grey by lightness).

    python benchmarks/colour_words.py [--skip-model] [--sheet sheet.png]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from PIL import Image

from pixelgif.models.bundled import load_bundled_pipeline
from pixelgif.models.bundled.colours import ALL_COLOURS, has_colour
from pixelgif.models.bundled.pipeline import recolour_render

THINGS = ["car", "bus", "cat", "dog", "fish", "bird", "apple", "cupcake", "balloon", "umbrella", "hat"]
SEEDS = range(4)


def render(pipe, prompts: list[str], seeds: list[int], batch: int = 25) -> list[np.ndarray]:
    """Return the model's RGBA uint8 sprite for each prompt, from the noise a morph keyframe with that seed gets."""
    out: list[np.ndarray] = []
    for start in range(0, len(prompts), batch):
        noise = torch.stack([torch.randn((4, 32, 32), generator=torch.Generator("cpu").manual_seed(s))
                             for s in seeds[start : start + batch]])  # fmt: skip
        images = pipe(prompts[start : start + batch], latents=noise).images
        rgba = (np.asarray(images) * 255).round().astype(np.uint8)
        rgba[..., 3] = np.where(rgba[..., 3] >= 128, 255, 0)
        out.extend(rgba)
    return out


def _fixed(sprite: np.ndarray, colour: str) -> np.ndarray:
    """Return the keyframe a morph without the library makes of render ``sprite`` (`recolour_render`)."""
    turned = recolour_render(Image.fromarray(sprite, "RGBA"), colour)
    return sprite if turned is None else np.asarray(turned)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-model", action="store_true", help="only the library (renders only its misses)")
    parser.add_argument("--sheet", type=Path, help="write the library keyframes (seed 0) here")
    parser.add_argument("--model-sheet", type=Path, help="write the model's keyframes, recoloured (seed 0), here")
    args = parser.parse_args(argv)
    pipe = load_bundled_pipeline()
    cases = [(colour, thing, seed) for seed in SEEDS for thing in THINGS for colour in ALL_COLOURS]
    prompts = [f"a {colour} {thing}" for colour, thing, _ in cases]
    clock = time.perf_counter()
    library = [pipe.library_sprite(prompt, seed) for prompt, (_, _, seed) in zip(prompts, cases, strict=True)]
    if args.skip_model:
        missing = [i for i, hit in enumerate(library) if hit is None]
        rendered = dict(zip(missing, render(pipe, [prompts[i] for i in missing], [cases[i][2] for i in missing]),
                            strict=True))  # fmt: skip
        model = None
    else:
        model = render(pipe, prompts, [seed for *_, seed in cases])
        rendered = dict(enumerate(model))
    keyframes = [np.asarray(hit[0]) if hit is not None else rendered[i] for i, hit in enumerate(library)]
    seconds = time.perf_counter() - clock
    print(f"{len(cases)} keyframes ({len(ALL_COLOURS)} colours x {len(THINGS)} things x {len(SEEDS)} seeds), "
          f"{sum(hit is not None for hit in library)} from the library, {seconds:.0f} s")  # fmt: skip
    # What a morph keyframe is without the library: the render, turned to the colour when it lacks it.
    morph = (
        None if model is None else [_fixed(sprite, colour) for sprite, (colour, _, _) in zip(model, cases, strict=True)]
    )
    for name, sprites in (("library", keyframes), ("model alone", model), ("model+recolour", morph)):
        if sprites is None:
            continue
        right = [has_colour(sprite, colour) for sprite, (colour, _, _) in zip(sprites, cases, strict=True)]
        per = {c: np.mean([r for r, (cc, _, _) in zip(right, cases, strict=True) if cc == c]) for c in ALL_COLOURS}
        print(f"{name:12s} {np.mean(right):.3f}  " + "  ".join(f"{c} {v:.2f}" for c, v in per.items()))
        wrong = sorted({prompts[i] for i, r in enumerate(right) if not r})
        print(f"  wrong ({len(wrong)} prompts, any seed): " + ", ".join(wrong[:40]))
    for path, sprites in ((args.sheet, keyframes), (args.model_sheet, morph)):
        if path is not None and sprites is not None:
            _sheet(path, [sprite for sprite, (_, _, seed) in zip(sprites, cases, strict=True) if seed == 0])
    return 0


def _sheet(path: Path, first: list[np.ndarray]) -> None:
    """Write ``first`` (colours across, things down) three times enlarged to ``path``."""
    sheet = Image.new("RGBA", (32 * len(ALL_COLOURS), 32 * len(THINGS)), (225, 225, 225, 255))
    for i, sprite in enumerate(first):
        tile = Image.new("RGBA", (32, 32), (225, 225, 225, 255))
        tile.alpha_composite(Image.fromarray(sprite, "RGBA"))
        sheet.paste(tile, (32 * (i % len(ALL_COLOURS)), 32 * (i // len(ALL_COLOURS))))
    sheet.resize((sheet.width * 3, sheet.height * 3), Image.NEAREST).save(path)


if __name__ == "__main__":
    raise SystemExit(main())
