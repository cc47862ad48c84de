"""``pixelgif train``: fine-tune a pixel-art LoRA on a Stable Diffusion model from captioned images."""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
Train a LoRA on the attention layers of a Stable Diffusion UNet from a folder of pixel-art images
with captions, and write it as a diffusers-format .safetensors file for `pixelgif morph --lora`.
DATA is a folder of images with same-name .txt captions (knight.png + knight.txt), or a folder with
a metadata.jsonl of {"file_name": ..., "text": ...} rows (the Hugging Face imagefolder layout).
Images are resized on their short side and centre-cropped to a square; small sprites are scaled up
with nearest-neighbour, so art pixels stay sharp. Transparent pixels are laid on white."""

EPILOG = """\
checkpoints: every --checkpoint-every steps (and at the end) the whole training state is saved next
to OUT (sprites.safetensors -> sprites.checkpoint.pt); --resume continues from it with the same data
order and random numbers, up to the same total --steps or more. Same model, rank, resolution and
number of images needed; the learning rate and batch settings may change.

examples:
  pixelgif train sprites/ --model ./sd15 -o sprites.safetensors --steps 1000
  pixelgif train sprites/ --model sd2.1 -o sprites.safetensors --resolution 512 --batch-size 4 \\
      --mixed-precision fp16 --gradient-checkpointing           # SD 2.1 on a CUDA GPU
  pixelgif train sprites/ --model ./sd15 -o sprites.safetensors --steps 2000 --resume
  pixelgif morph "a knight" "a wizard" --model ./sd15 --lora sprites.safetensors -o knight.gif

on CPU, --mixed-precision bf16 trains faster than full precision (23 % on pixelgif's bundled UNet).
Ctrl-C stops at once; the last checkpoint stays, and no partial LoRA file is written."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..train.lora import MIXED_PRECISION, LoraTrainConfig
    from ..train.lora_data import RESAMPLE

    defaults = LoraTrainConfig.__dataclass_fields__
    d = {name: f.default for name, f in defaults.items()}
    parser = subparsers.add_parser(
        "train", help="fine-tune a pixel-art LoRA from captioned images", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("data", metavar="DATA", help="folder of images with .txt captions, or with a metadata.jsonl")
    parser.add_argument("--model", required=True, metavar="NAME|PATH|HUB_ID",
                        help="base Stable Diffusion model: a preset (sd2.1), a hub id, a diffusers folder or a "
                             "single-file .safetensors checkpoint")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="LoRA file to write, .safetensors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    data = parser.add_argument_group("data")
    data.add_argument("--resolution", type=int, metavar="PX",
                      help="square training size, a multiple of 8 (default: the model's own, 512 or 768)")
    data.add_argument("--resample", choices=tuple(RESAMPLE), default=d["resample"],
                      help=f"how images are resized (default {d['resample']}: hard pixel-art edges)")
    data.add_argument("--caption-column", default=d["caption_column"], metavar="NAME",
                      help=f"metadata.jsonl column with the caption (default {d['caption_column']})")
    data.add_argument("--no-cache", dest="cache", action="store_false",
                      help="encode every image and caption again each time (less memory for big data sets)")

    train = parser.add_argument_group("training")
    train.add_argument("--steps", type=int, default=d["steps"], metavar="N",
                       help=f"total optimizer steps, counting resumed ones (default {d['steps']})")
    train.add_argument("--rank", type=int, default=d["rank"], metavar="R", help=f"LoRA rank (default {d['rank']})")
    train.add_argument("--learning-rate", type=float, default=d["learning_rate"], metavar="LR",
                       help=f"AdamW learning rate (default {d['learning_rate']:g})")
    train.add_argument("--warmup-steps", type=int, default=d["warmup_steps"], metavar="N",
                       help="linear learning-rate warm-up (default 0)")
    train.add_argument("--batch-size", type=int, default=d["batch_size"], metavar="N",
                       help=f"images per forward pass (default {d['batch_size']})")
    train.add_argument("--gradient-accumulation", type=int, default=d["gradient_accumulation"], metavar="N",
                       help="batches per optimizer step: a bigger effective batch in the same memory (default 1)")
    train.add_argument("--seed", type=int, default=d["seed"], metavar="SEED", help="seed of everything random (default 0)")
    train.add_argument("--mixed-precision", choices=MIXED_PRECISION, default=d["mixed_precision"],
                       help="no (default), bf16 (CPU or recent GPU), fp16 (CUDA GPU)")
    train.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations: less memory, slower steps")
    train.add_argument("--device", metavar="DEV", help="auto (default: CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")

    checkpoints = parser.add_argument_group("checkpoints")
    checkpoints.add_argument("--checkpoint-every", type=int, default=d["checkpoint_every"], metavar="N",
                             help=f"save the training state every N steps, 0 for never (default {d['checkpoint_every']})")
    checkpoints.add_argument("--checkpoint", metavar="FILE", help="checkpoint file (default: next to OUT, .checkpoint.pt)")
    checkpoints.add_argument("--resume", action="store_true", help="continue from the checkpoint")

    parser.error = _one_line_error(parser)
    parser.set_defaults(run=run)
    return parser


def build_config(args):
    """Return the LoraTrainConfig that the parsed ``args`` ask for."""
    from ..train.lora import LoraTrainConfig

    names = ("data", "model", "output", "resolution", "resample", "caption_column", "cache", "steps", "rank",
             "learning_rate", "warmup_steps", "batch_size", "gradient_accumulation", "seed", "mixed_precision",
             "gradient_checkpointing", "device", "checkpoint_every", "checkpoint", "resume")  # fmt: skip
    return LoraTrainConfig(**{name: getattr(args, name) for name in names})


def run(args) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (cli.main sets it too)
    config = build_config(args)
    from ..train.lora import check_inputs

    examples = check_inputs(config)  # bad data or output fails before the slow imports and model load
    print(f"{len(examples)} images with captions in {config.data}", file=sys.stderr)
    _quiet_libraries()
    from ..train.lora import train_lora

    result = train_lora(config, progress=not args.quiet, log=lambda line: print(line, file=sys.stderr), examples=examples)
    loss = f", last loss {result.losses[-1]:.4f}" if result.losses else ""
    print(f"wrote {result.output} ({result.steps} steps{loss}, {result.seconds:.1f} s)")
    return 0


def _quiet_libraries() -> None:
    """Silence library info and progress bars: the user sees one training bar and a summary line."""
    import transformers  # before diffusers, whose imports otherwise warn through transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import diffusers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()


def _one_line_error(parser):
    def error(message: str):
        print(f"{parser.prog}: error: {message} (see {parser.prog} --help)", file=sys.stderr)
        sys.exit(2)

    return error
