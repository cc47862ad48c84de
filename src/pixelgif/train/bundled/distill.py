"""Step distillation of the bundled sprite UNet: a student that takes one DDIM step where its teacher takes K.

After Salimans & Ho, "Progressive Distillation for Fast Sampling of Diffusion Models" (2022), done
in one round: the student's single step from ``t`` to ``t_next`` is trained to land where the
teacher's K DDIM steps on the finer grid land (K = 2 is one progressive round). It runs on the
shipped weights and the sprite library's drawings and captions (no other data set), as torch-only
modules (`SpriteUNet`: no diffusers needed, so it runs where only torch is installed, a GPU
machine too). The student has the teacher's architecture and safetensors layout, so every loader
of the bundled model reads it. Timesteps sit on DDIM's "trailing" grid: the grid of N steps is
every K-th point of the grid of N x K steps.

    python -m pixelgif.train.bundled.distill --out runs/distill --steps 3 --substeps 4 --minutes 150  # resumes
    python -m pixelgif.train.bundled.distill --out runs/distill --steps 3 --export weights/              # EMA student

Guidance stays outside the model: the student is distilled on the conditional and the empty
caption alike (10 % of the batch), and on captions mixed as a morph mixes them (``--mixed``);
sampling applies classifier-free guidance to its outputs.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...models.bundled import WEIGHTS_DIR
from ...models.bundled.library import LIBRARY_DIR

CHECKPOINT = "last.pt"
TRAIN_STEPS = 1000  # the noise schedule's length
Predict = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t, context) -> noise


def trailing_grid(steps: int) -> list[int]:
    """Return DDIM's "trailing" timesteps for ``steps`` steps, noisiest first (diffusers' rounding)."""
    return [int(t) for t in np.round(np.arange(TRAIN_STEPS, 0, -TRAIN_STEPS / steps)).astype(np.int64) - 1]


def library_data() -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Return the library's sprites (N, 32, 32, 4) uint8, captions, caption concepts and sprite concepts."""
    arrays = np.load(LIBRARY_DIR / "sprites.npz")
    captions = json.loads((LIBRARY_DIR / "index.json").read_text())["captions"]
    return arrays["pixels"], captions, arrays["caption_concepts"], arrays["sprite_concepts"]


@torch.no_grad()
def caption_states(captions: list[str], cache: Path) -> torch.Tensor:
    """Return MiniLM token states (1 + len(captions), 24, 384) fp16, row 0 the empty caption; cached."""
    if cache.is_file():
        states = torch.load(cache, weights_only=True)
        if states.shape[0] == len(captions) + 1:
            return states
    from .trainer import embed_captions

    states = embed_captions(["", *captions])
    torch.save(states, cache)
    return states


def pack_states(states: torch.Tensor, keep: np.ndarray) -> dict[str, torch.Tensor]:
    """Return caption states rows ``keep`` as int8 with one fp16 scale per token (a quarter of the
    size: small enough to take to another machine), with row 0 (the empty caption) always kept."""
    rows = states[torch.from_numpy(np.unique(np.concatenate([[0], keep])))].float()
    scale = rows.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8) / 127
    return {"rows": torch.from_numpy(np.unique(np.concatenate([[0], keep]))),
            "int8": (rows / scale).round().to(torch.int8), "scale": scale.half()}  # fmt: skip


def unpack_states(packed: dict[str, torch.Tensor], count: int) -> tuple[torch.Tensor, np.ndarray]:
    """Return (states (len(rows), 24, 384) float32, a map from caption row to its index or -1)."""
    index = np.full(count, -1, dtype=np.int64)
    index[packed["rows"].numpy()] = np.arange(len(packed["rows"]))
    return packed["int8"].float() * packed["scale"].float(), index


class Schedule:
    """sqrt(alpha_bar) and sqrt(1 - alpha_bar) of the linear-beta schedule; index -1 means the clean image."""

    def __init__(self, device: torch.device | str = "cpu"):
        betas = torch.linspace(0.0001, 0.02, TRAIN_STEPS, dtype=torch.float64)
        bar = torch.cumprod(1 - betas, 0)
        self.alpha = torch.cat([bar.sqrt(), torch.ones(1, dtype=torch.float64)]).float().to(device)
        self.sigma = torch.cat([(1 - bar).sqrt(), torch.zeros(1, dtype=torch.float64)]).float().to(device)

    def at(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (alpha, sigma) shaped (B, 1, 1, 1) for integer timesteps ``t`` (-1: clean)."""
        idx = torch.where(t < 0, torch.full_like(t, TRAIN_STEPS), t)
        return self.alpha[idx].view(-1, 1, 1, 1), self.sigma[idx].view(-1, 1, 1, 1)


def ddim_step(schedule: Schedule, x, eps, t, t_next, clip: bool = True):
    """Return the DDIM (eta 0) step from ``t`` to ``t_next`` given the noise prediction ``eps``."""
    a, s = schedule.at(t)
    a_next, s_next = schedule.at(t_next)
    x0 = (x - s * eps) / a
    if clip:
        x0 = x0.clamp(-1, 1)
        eps = (x - a * x0) / s
    return a_next * x0 + s_next * eps


def distill_targets(schedule: Schedule, predict: Predict, x_t, path: list[torch.Tensor], context):
    """Return (noise, clean image) the student must predict at ``path[0]`` so that one DDIM step
    lands at ``path[-1]`` where the teacher's DDIM steps through ``path`` (per-sample timesteps) do."""
    x = x_t
    for t, t_next in itertools.pairwise(path):
        x = ddim_step(schedule, x, predict(x, t, context), t, t_next)
    a, s = schedule.at(path[0])
    a_next, s_next = schedule.at(path[-1])
    ratio = s_next / s
    x0 = (x - ratio * x_t) / (a_next - ratio * a)
    return (x_t - a * x0) / s, x0


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export(ema_state: dict[str, torch.Tensor], folder: Path, steps: int, info: dict) -> None:
    """Write a weights folder of the bundled layout: ``unet/`` (fp16 safetensors, the teacher's
    config), ``scheduler/`` (DDIM on the trailing grid, the step it was distilled on), ``distill.json``."""
    from safetensors.torch import save_file

    (folder / "unet").mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().to("cpu", torch.float16).contiguous() for k, v in ema_state.items()},
              str(folder / "unet" / "diffusion_pytorch_model.safetensors"))  # fmt: skip
    shutil.copy(WEIGHTS_DIR / "unet" / "config.json", folder / "unet" / "config.json")
    (folder / "scheduler").mkdir(exist_ok=True)
    # DPM-Solver++ of order 1 with thresholding at 1 is DDIM that re-derives the noise from the clipped x0.
    sampler = json.loads((WEIGHTS_DIR / "scheduler" / "scheduler_config.json").read_text())
    sampler |= {"solver_order": 1, "timestep_spacing": "trailing"}
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(sampler, indent=2) + "\n")
    (folder / "distill.json").write_text(json.dumps({"steps": steps, **info}) + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, log)")
    parser.add_argument("--steps", type=int, default=3, help="the student's sampling steps")
    parser.add_argument("--substeps", type=int, default=2, help="teacher DDIM steps per student step")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--warmup", type=int, default=100, help="optimizer steps of linear learning-rate warm-up")
    parser.add_argument("--ema", type=float, default=0.995)
    parser.add_argument("--mixed", type=float, default=0.25, help="share of the batch on two captions mixed")
    parser.add_argument("--minutes", type=float, default=150, help="stop (with a checkpoint) after this long")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--states", type=Path, help="caption states packed by --pack (else computed with MiniLM)")
    parser.add_argument("--pack", type=Path, help="write two captions per concept's states, packed, here and exit")
    parser.add_argument("--snapshots", type=int, default=0, help="also export the EMA every this many steps")
    parser.add_argument("--export", type=Path, help="write the newest EMA student here and exit")
    args = parser.parse_args(argv)
    from ...models.bundled.sprite_unet import load_sprite_unet

    args.out.mkdir(parents=True, exist_ok=True)
    pixels, captions, caption_concepts, sprite_concepts = library_data()
    if args.pack is not None:
        rng = np.random.default_rng(0)
        keep = [rng.permutation(np.flatnonzero(caption_concepts == c))[:2] + 1 for c in np.unique(caption_concepts)]
        torch.save(pack_states(caption_states(captions, args.out / "captions.pt"), np.concatenate(keep)), args.pack)
        print(f"packed {sum(map(len, keep))} captions' states into {args.pack}")
        return
    device = torch.device(args.device)
    ckpt_path = args.out / CHECKPOINT
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    teacher = load_sprite_unet(WEIGHTS_DIR / "unet", torch.float32).to(device)
    student = copy.deepcopy(teacher).requires_grad_(True).train()
    ema = copy.deepcopy(teacher)
    state: dict[str, Any] = {"step": 0, "seconds": 0.0}
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.0)
    if ckpt_path.is_file():
        saved = torch.load(ckpt_path, weights_only=True, map_location=device)
        state = saved["state"]
        student.load_state_dict(saved["student"])
        ema.load_state_dict(saved["ema"])
        optimizer.load_state_dict(saved["optimizer"])
    info = {"substeps": args.substeps, **state}
    if args.export is not None and not ckpt_path.is_file():
        parser.error(f"no checkpoint to export in {args.out} (train first: the same command without --export)")
    if args.export is not None:
        export(ema.state_dict(), args.export, args.steps, info)
        print(f"exported the EMA student (step {state['step']}, {args.steps} steps) to {args.export}")
        return

    if args.states is not None:
        states, row_of = unpack_states(torch.load(args.states, weights_only=True), len(captions) + 1)
    else:
        states, row_of = caption_states(captions, args.out / "captions.pt").float(), np.arange(len(captions) + 1)
    by_concept: dict[int, list[int]] = {}
    for i, c in enumerate(caption_concepts):
        if row_of[i + 1] >= 0:
            by_concept.setdefault(int(c), []).append(int(row_of[i + 1]))
    usable = np.flatnonzero([int(c) in by_concept for c in sprite_concepts])
    # Each sprite's caption rows, cycled to one width, so that a batch's captions are drawn at once.
    width = max(map(len, by_concept.values()))
    table = np.zeros((len(sprite_concepts), width), dtype=np.int64)
    for sprite in usable.tolist():
        choices = by_concept[int(sprite_concepts[sprite])]
        table[sprite] = [choices[j % len(choices)] for j in range(width)]
    states = states.to(device)
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).to(device)
    schedule = Schedule(device)
    fine = torch.tensor([*trailing_grid(args.steps * args.substeps), -1], device=device)
    rng = np.random.default_rng(int(state["step"]) + 1)
    gen = torch.Generator(device).manual_seed(int(state["step"]) + 1)

    def predict(x: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return teacher(x, t, encoder_hidden_states=context)

    def weights_of(model) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    start, last_save = time.time(), time.time()
    seconds_before = state["seconds"]
    log = (args.out / "log.txt").open("a")
    while time.time() - start < args.minutes * 60 and (args.max_steps is None or state["step"] < args.max_steps):
        ids = rng.choice(usable, args.batch)
        rows = table[ids, rng.integers(0, width, args.batch)]
        empty = rng.random(args.batch) < 0.1
        rows[empty] = 0
        context = states[torch.from_numpy(rows).to(device)]
        # A morph renders frames between two prompts' token states: mix some with another caption.
        mixed = torch.from_numpy(rng.random(args.batch) < args.mixed).to(device)
        other = states[torch.from_numpy(rng.integers(0, len(states), args.batch)).to(device)]
        share = torch.rand(args.batch, 1, 1, device=device, generator=gen) * mixed.view(-1, 1, 1)
        context = torch.lerp(context, other, share)
        x0 = images[torch.from_numpy(ids).to(device)].float() / 127.5 - 1
        k = torch.from_numpy(rng.integers(0, args.steps, args.batch)).to(device)
        path = [fine[k * args.substeps + d] for d in range(args.substeps + 1)]
        a, s = schedule.at(path[0])
        x_t = a * x0 + s * torch.randn(x0.shape, device=device, generator=gen)
        with torch.no_grad():
            target, _ = distill_targets(schedule, predict, x_t, path, context)
        pred = student(x_t, path[0], encoder_hidden_states=context)
        # Truncated-SNR weighting (max(SNR, 1) on the clean-image error), capped: the noisiest steps matter.
        weight = ((s / a) ** 2).clamp(1, 5).view(-1)
        loss = (weight * ((pred - target) ** 2).mean(dim=(1, 2, 3))).mean()
        for group in optimizer.param_groups:
            group["lr"] = args.lr * min(1.0, (state["step"] + 1) / max(args.warmup, 1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.parameters()), list(student.parameters()), 1 - args.ema)
        state["step"] += 1
        state["seconds"] = seconds_before + time.time() - start
        if state["step"] % 50 == 0:
            log.write(f"{time.strftime('%H:%M:%S')} step {state['step']} loss {loss.item():.5f}\n")
            log.flush()
        if args.snapshots and state["step"] % args.snapshots == 0:
            export(weights_of(ema), args.out / f"step{state['step']}", args.steps, {"substeps": args.substeps, **state})
        if time.time() - last_save > 300:
            save_atomic({"state": state, "student": student.state_dict(), "ema": ema.state_dict(),
                         "optimizer": optimizer.state_dict()}, ckpt_path)  # fmt: skip
            last_save = time.time()
    save_atomic({"state": state, "student": student.state_dict(), "ema": ema.state_dict(),
                 "optimizer": optimizer.state_dict()}, ckpt_path)  # fmt: skip
    log.write(f"{time.strftime('%H:%M:%S')} stopped at step {state['step']} ({state['seconds']:.0f} s)\n")
    log.close()


if __name__ == "__main__":
    main()
