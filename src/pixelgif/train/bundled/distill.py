"""Progressive distillation of the bundled sprite UNet: a student that takes one DDIM step where its teacher takes two.

Salimans & Ho, "Progressive Distillation for Fast Sampling of Diffusion Models" (2022), on the
shipped weights and the sprite library's drawings and captions (no other data set needed). The
student has the teacher's architecture and safetensors layout, so every loader of the bundled
model reads it. Timesteps sit on DDIM's "trailing" grid: the grid of N steps is every other point
of the grid of 2N steps, so a round halves the steps exactly (12 -> 6 -> 3).

    python -m pixelgif.train.bundled.distill --out runs/distill --minutes 150      # resumes from OUT/last.pt
    python -m pixelgif.train.bundled.distill --out runs/distill --export weights/   # the EMA student

Guidance stays outside the model: the student is distilled on the conditional and the empty
caption alike (10 % of the batch), and sampling applies classifier-free guidance to its outputs.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from ...models.bundled import WEIGHTS_DIR
from ...models.bundled.library import LIBRARY_DIR

CHECKPOINT = "last.pt"
TRAIN_STEPS = 1000  # the noise schedule's length


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


class Schedule:
    """sqrt(alpha_bar) and sqrt(1 - alpha_bar) of the linear-beta schedule; index -1 means the clean image."""

    def __init__(self):
        betas = torch.linspace(0.0001, 0.02, TRAIN_STEPS, dtype=torch.float64)
        bar = torch.cumprod(1 - betas, 0)
        self.alpha = torch.cat([bar.sqrt(), torch.ones(1, dtype=torch.float64)]).float()
        self.sigma = torch.cat([(1 - bar).sqrt(), torch.zeros(1, dtype=torch.float64)]).float()

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


def distill_targets(schedule: Schedule, teacher, x_t, t, t_mid, t_next, context):
    """Return the noise the student must predict at ``t`` so one DDIM step lands where the teacher's two do."""
    eps = teacher(x_t, t, encoder_hidden_states=context).sample
    x_mid = ddim_step(schedule, x_t, eps, t, t_mid)
    eps = teacher(x_mid, t_mid, encoder_hidden_states=context).sample
    x_next = ddim_step(schedule, x_mid, eps, t_mid, t_next)
    a, s = schedule.at(t)
    a_next, s_next = schedule.at(t_next)
    ratio = s_next / s
    x0 = (x_next - ratio * x_t) / (a_next - ratio * a)
    return (x_t - a * x0) / s, x0


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, log)")
    parser.add_argument("--rounds", default="12,6,3", help="step counts, teacher first: 12,6 is one round")
    parser.add_argument("--round-steps", type=int, default=1500, help="optimizer steps per round")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--ema", type=float, default=0.995)
    parser.add_argument("--minutes", type=float, default=150, help="stop (with a checkpoint) after this long")
    parser.add_argument("--export", type=Path, help="write the newest EMA student here (unet/ + scheduler/) and exit")
    args = parser.parse_args(argv)
    from diffusers import UNet2DConditionModel

    args.out.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.out / CHECKPOINT
    rounds = [int(n) for n in args.rounds.split(",")]
    teacher = UNet2DConditionModel.from_pretrained(WEIGHTS_DIR / "unet", torch_dtype=torch.float32)
    teacher.requires_grad_(False).eval()
    student = copy.deepcopy(teacher).requires_grad_(True).train()
    ema = copy.deepcopy(teacher)
    state = {"round": 0, "step": 0}
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.0)
    if ckpt_path.is_file():
        saved = torch.load(ckpt_path, weights_only=True)
        state = {"round": saved["round"], "step": saved["step"]}
        if saved.get("teacher") is not None:
            teacher.load_state_dict(saved["teacher"])
        student.load_state_dict(saved["student"])
        ema.load_state_dict(saved["ema"])
        optimizer.load_state_dict(saved["optimizer"])
    if args.export is not None:
        from .trainer import write_weights

        write_weights(ema, args.export)
        # The student samples with the step it was distilled on: DDIM (DPM-Solver++ of order 1, which
        # re-derives the noise from the clipped x0) on the trailing grid.
        sampler_file = args.export / "scheduler" / "scheduler_config.json"
        sampler = json.loads(sampler_file.read_text()) | {"solver_order": 1, "timestep_spacing": "trailing"}
        sampler_file.write_text(json.dumps(sampler, indent=2) + "\n")
        steps = rounds[min(state["round"] + 1, len(rounds) - 1)]
        (args.export / "distill.json").write_text(json.dumps({"steps": steps, **state}) + "\n")
        print(
            f"exported the EMA student (round {state['round']}, step {state['step']}, {steps} steps) to {args.export}"
        )
        return

    pixels, captions, caption_concepts, sprite_concepts = library_data()
    states = caption_states(captions, args.out / "captions.pt")
    by_concept: dict[int, list[int]] = {}
    for i, c in enumerate(caption_concepts):
        by_concept.setdefault(int(c), []).append(i + 1)
    schedule = Schedule()
    rng = np.random.default_rng(state["step"] + 1000 * state["round"])
    start = time.time()
    log = (args.out / "log.txt").open("a")
    while state["round"] < len(rounds) - 1 and time.time() - start < args.minutes * 60:
        student_steps = rounds[state["round"] + 1]
        grid = [*trailing_grid(2 * student_steps), -1]
        ids = rng.integers(0, len(pixels), args.batch)
        rows = [rng.choice(by_concept[int(sprite_concepts[i])]) if rng.random() > 0.1 else 0 for i in ids]
        context = states[rows].float()
        x0 = torch.from_numpy(pixels[ids]).permute(0, 3, 1, 2).float() / 127.5 - 1
        k = rng.integers(0, student_steps, args.batch)
        t, t_mid, t_next = (torch.tensor([grid[2 * j + d] for j in k]) for d in (0, 1, 2))
        a, s = schedule.at(t)
        x_t = a * x0 + s * torch.randn_like(x0)
        with torch.no_grad():
            target, _ = distill_targets(schedule, teacher, x_t, t, t_mid, t_next, context)
        pred = student(x_t, t, encoder_hidden_states=context).sample
        # Truncated-SNR weighting (max(SNR, 1) on the clean-image error), capped: the noisiest steps matter.
        snr = (a / s) ** 2
        weight = (1 / snr).clamp(1, 5).view(-1)
        loss = (weight * ((pred - target) ** 2).mean(dim=(1, 2, 3))).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), student.parameters(), strict=True):
                p_ema.lerp_(p, 1 - args.ema)
        state["step"] += 1
        if state["step"] % 10 == 0:
            log.write(
                f"{time.strftime('%H:%M:%S')} round {state['round']} step {state['step']} loss {loss.item():.5f}\n"
            )
            log.flush()
        finished = state["step"] >= args.round_steps
        if finished or state["step"] % 50 == 0:
            save_atomic(
                {**state, "teacher": teacher.state_dict(), "student": student.state_dict(), "ema": ema.state_dict(),
                 "optimizer": optimizer.state_dict()},
                ckpt_path,
            )  # fmt: skip
        if finished:
            # Round done: the EMA student teaches the next round.
            round_dir = args.out / f"round{state['round']}_steps{student_steps}"
            from .trainer import write_weights

            write_weights(copy.deepcopy(ema), round_dir)
            teacher.load_state_dict(ema.state_dict())
            student.load_state_dict(ema.state_dict())
            optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.0)
            state = {"round": state["round"] + 1, "step": 0}
            save_atomic(
                {**state, "teacher": teacher.state_dict(), "student": student.state_dict(), "ema": ema.state_dict(),
                 "optimizer": optimizer.state_dict()},
                ckpt_path,
            )  # fmt: skip
    log.close()


if __name__ == "__main__":
    main()
