"""Is the distilled few-step student as good as its teacher at more steps, and better than the teacher at as few?

Renders the same prompts from the same noise three ways, side by side in one run:
the shipped weights at their default sampler and steps (the teacher), the teacher at the
student's step count (what fewer steps cost without distillation), and the student
(``python -m pixelgif.train.bundled.distill --export FOLDER``) with DDIM steps on the trailing grid.
Prints each one's mean OKLab distance to the teacher's sprites, colour-word accuracy, and time;
writes a sheet (rows: teacher, teacher at fewer steps, student).

    python benchmarks/distilled_student.py --student runs/distill/export --sheet /tmp/student.png
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


def render(pipe, prompts: list[str], steps: int, seed: int) -> np.ndarray:
    noise = torch.stack(
        [torch.randn((4, 32, 32), generator=torch.Generator().manual_seed(seed + i)) for i in range(len(prompts))]
    )
    images = pipe(prompts, latents=noise, num_inference_steps=steps).images
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", type=Path, required=True, help="an exported student folder (unet/, distill.json)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--sheet", type=Path, help="write the three rows of sprites here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    from diffusers import DPMSolverMultistepScheduler

    steps = json.loads((args.student / "distill.json").read_text())["steps"]
    teacher = bundled.load_bundled_pipeline()
    student = bundled.load_bundled_pipeline(weights_dir=args.student)
    # DPM-Solver++ of order 1 is DDIM with the noise re-derived from the clipped x0: the step the student
    # was distilled on. diffusers' DDIMScheduler keeps the unclipped noise, which wrecks pixel-space samples.
    student.scheduler = DPMSolverMultistepScheduler.from_config(
        student.scheduler.config, timestep_spacing="trailing", solver_order=1
    )
    prompts = [f"a {c} {t}" for t in THINGS for c in COLOURS]
    runs = {
        f"teacher, {teacher.default_num_inference_steps} steps": (teacher, teacher.default_num_inference_steps),
        f"teacher, {steps} steps": (teacher, steps),
        f"student, {steps} steps": (student, steps),
    }
    sprites: dict[str, np.ndarray] = {}
    for name, (pipe, n) in runs.items():
        start = time.perf_counter()
        sprites[name] = np.concatenate([render(pipe, prompts, n, 1000 * s) for s in range(args.seeds)])
        seconds = time.perf_counter() - start
        wanted = [c for _ in range(args.seeds) for t in THINGS for c in COLOURS]
        right = np.mean([dominant_hue(s).family == c for s, c in zip(sprites[name], wanted, strict=True)])
        reference = on_white_lab(next(iter(sprites.values())))
        distance = np.linalg.norm(on_white_lab(sprites[name]) - reference, axis=-1).mean()
        print(f"{name:<20} colour words {right:.3f}  OKLab distance to the teacher {distance:.4f}  {seconds:6.1f} s")
    if args.sheet:
        count = min(len(prompts), 24)
        sheet = Image.new("RGBA", (count * 34, len(runs) * 34), (255, 255, 255, 255))
        for row, name in enumerate(sprites):
            for col in range(count):
                tile = Image.fromarray(sprites[name][col], "RGBA")
                sheet.alpha_composite(tile, (col * 34 + 1, row * 34 + 1))
        sheet.convert("RGB").resize((sheet.width * 3, sheet.height * 3), Image.NEAREST).save(args.sheet)
        print(f"sheet: {args.sheet} (rows: {', '.join(sprites)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
