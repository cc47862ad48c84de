"""How many sampling steps does the bundled model need? And does a distilled student beat its teacher at as few?

Renders "a <colour> <thing>" prompts from the same noise at each step count, side by side in one
run, with the shipped weights (DPM-Solver++ 2M, the model's own sampler) and optionally a
distilled student (``python -m pixelgif.train.bundled.distill --export FOLDER``, DDIM steps on
the trailing grid). Prints each run's colour-word accuracy, its mean OKLab distance to the
most-steps run's sprites (same noise: 0 means the same pictures) and its time; writes a sheet.

    python benchmarks/bundled_steps.py --steps 12,6,4,3 --sheet /tmp/steps.png [--student runs/distill/export]
    python benchmarks/bundled_steps.py --steps 6,12 --guided 5,4,3 --seeds 2   # guidance on the first K steps only

Guidance on only the first K of 6 steps (fewer UNet calls: 2K + 6 - K per sprite instead of 12)
was measured here and rejected (2-core AMD EPYC, float32, 112 sprites): colour words 0.598 with
guidance on all 6 steps, 0.607 at 12 steps, 0.562 guided on 5, 0.518 on 4, 0.473 on 3, 0.295
on 2 (the distance to the all-guided sprites at 4: 0.052, about what 12 steps against 6 differ).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from PIL import Image

from pixelgif.models import bundled
from pixelgif.pixelate.color import srgb8_to_oklab
from pixelgif.train.bundled.colour_captions import COLOURS, dominant_hue

THINGS = ["cat", "car", "apple", "fish", "bird", "house", "flower", "hat"]


def on_white_lab(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    rgb = (rgba[..., :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
    return srgb8_to_oklab(rgb.reshape(len(rgba), -1, 3))


def render(pipe, prompts: list[str], steps: int, seed: int, guided: int | None = None) -> np.ndarray:
    """Return the sprites of ``prompts`` (uint8 RGBA) from noise of ``seed``; ``guided``: classifier-free
    guidance on the first ``guided`` steps only, the conditional prediction alone after (fewer UNet calls)."""
    noise = torch.stack(
        [torch.randn((4, 32, 32), generator=torch.Generator().manual_seed(seed + i)) for i in range(len(prompts))]
    )
    if guided is None:
        images = pipe(prompts, latents=noise, num_inference_steps=steps).images
        return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
    positive, negative = pipe.encode_prompt(prompts, "cpu", 1, True, None)
    scale, sampler = pipe.default_guidance_scale, pipe.scheduler
    sampler.set_timesteps(steps)
    sample = noise * sampler.init_noise_sigma
    for i, t in enumerate(sampler.timesteps):
        if i < guided:
            both = pipe.predict_noise(sampler.scale_model_input(torch.cat([sample] * 2), t), t,
                                      torch.cat([negative, positive]))  # fmt: skip
            uncond, cond = both.chunk(2)
            prediction = uncond + scale * (cond - uncond)
        else:
            prediction = pipe.predict_noise(sampler.scale_model_input(sample, t), t, positive)
        sample = sampler.step(prediction, t, sample).prev_sample
    images = ((sample.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="12,6,4,3", help="step counts of the shipped model, the reference first")
    parser.add_argument(
        "--student",
        type=Path,
        action="append",
        default=[],
        help="an exported student folder (unet/, scheduler/, distill.json); may be given again",
    )
    parser.add_argument(
        "--guided",
        default="",
        help="also these runs of the first step count with guidance on only its first K steps, e.g. 4,3",
    )
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--sheet", type=Path, help="write the sprites, one row per run, here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    teacher = bundled.load_bundled_pipeline()
    runs: dict[str, tuple] = {f"shipped, {n} steps": (teacher, int(n), None) for n in args.steps.split(",")}
    first = int(args.steps.split(",")[0])
    runs.update({f"{first} steps, {k} guided": (teacher, first, int(k)) for k in args.guided.split(",") if k})
    for folder in args.student:
        steps = json.loads((folder / "distill.json").read_text())["steps"]
        runs[f"{folder.name}, {steps} steps"] = (bundled.load_bundled_pipeline(weights_dir=folder), steps, None)
    prompts = [f"a {c} {t}" for t in THINGS for c in COLOURS]
    wanted = [c for _ in range(args.seeds) for t in THINGS for c in COLOURS]
    sprites: dict[str, np.ndarray] = {}
    print(f"{len(prompts) * args.seeds} sprites per run; distance: mean OKLab distance to the first run's sprites")
    for name, (pipe, n, guided) in runs.items():
        start = time.perf_counter()
        sprites[name] = np.concatenate([render(pipe, prompts, n, 1000 * s, guided) for s in range(args.seeds)])
        seconds = time.perf_counter() - start
        right = np.mean([dominant_hue(s).family == c for s, c in zip(sprites[name], wanted, strict=True)])
        reference = on_white_lab(next(iter(sprites.values())))
        distance = np.linalg.norm(on_white_lab(sprites[name]) - reference, axis=-1).mean()
        print(f"{name:<20} colour words {right:.3f}  distance {distance:.4f}  {seconds:6.1f} s")
    if args.sheet:
        count = min(len(prompts), 33)
        sheet = Image.new("RGBA", (count * 34, len(runs) * 34), (255, 255, 255, 255))
        for row, name in enumerate(sprites):
            for col in range(count):
                sheet.alpha_composite(Image.fromarray(sprites[name][col], "RGBA"), (col * 34 + 1, row * 34 + 1))
        sheet.convert("RGB").resize((sheet.width * 2, sheet.height * 2), Image.NEAREST).save(args.sheet)
        print(f"sheet: {args.sheet} (rows: {', '.join(sprites)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
