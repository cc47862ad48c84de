"""``pixelgif train``: fine-tune a pixel-art LoRA on a Stable Diffusion model from captioned images."""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
Train a LoRA on the attention layers of a Stable Diffusion UNet (optionally also the text encoder)
from pixel-art images with captions. DATA is a folder of images with same-name .txt captions
(knight.png + knight.txt), a folder in the Hugging Face imagefolder layout (images + metadata.jsonl
or metadata.csv with file_name and a caption column), a .parquet file, or a hub data set id with
image and caption columns (needs `pip install datasets` and the network). Images of any mode are
converted to RGB (transparent pixels on white). Pixel art is resized by whole factors with
nearest-neighbour, so its pixels stay crisp; other images with Lanczos.

OUT is a folder: the LoRA is OUT/pytorch_lora_weights.safetensors (diffusers format: `pixelgif morph
--lora OUT` and diffusers' load_lora_weights read it), with OUT/checkpoints/, OUT/validation/
(renders of the validation prompts and a morph GIF every --validate-every steps), OUT/log.txt,
OUT/training.json and OUT/tensorboard/ (when tensorboard is installed)."""

EPILOG = """\
checkpoints: every --checkpoint-every steps and at the end, the whole training state goes to
OUT/checkpoints/step-N/ (safetensors + JSON, no pickle; each also holds a usable LoRA). --resume
continues from the newest one with the same data order and random numbers, to the same total
--steps or more; it needs the same model, rank, alpha, targets, resolution and number of images.
An OUT that holds anything else is refused.

examples:
  pixelgif train sprites/ --model ./sd15 -o sprites-lora --steps 1000 --trigger-word pixelartstyle
  pixelgif train sprites/ --model sd2.1 -o sprites-lora --resolution 512 --gradient-checkpointing \\
      --validation-prompt "a knight, pixelartstyle" --validation-prompt "a wizard, pixelartstyle"
  pixelgif train jiovine/pixel-art-nouns-2k --model sd2.1 -o nouns-lora --caption-column text
  pixelgif train sprites/ --model ./sd15 -o sprites-lora --steps 2000 --resume
  accelerate launch --multi_gpu --num_processes 2 -m pixelgif train sprites/ --model sd2.1 -o sprites-lora
  pixelgif morph "a knight" "a wizard" --model ./sd15 --lora sprites-lora -o knight.gif

Mixed precision defaults to fp16 on a CUDA GPU and none on CPU; on CPU --mixed-precision bf16 is
faster (23 % on pixelgif's bundled UNet). Ctrl-C stops at once; the last checkpoint stays."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..train.lora import LoraTrainConfig
    from ..train.options import LR_SCHEDULES, MIXED_PRECISION
    from ..train.preprocess import CROPS, RESAMPLE

    d = {name: f.default for name, f in LoraTrainConfig.__dataclass_fields__.items()}
    parser = subparsers.add_parser(
        "train", help="fine-tune a pixel-art LoRA from captioned images", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("data", metavar="DATA", help="image folder (.txt captions or metadata.jsonl/.csv), .parquet, or hub data set id")
    parser.add_argument("--model", required=True, metavar="NAME|PATH|HUB_ID",
                        help="base Stable Diffusion model: a preset (sd2.1), a hub id, a diffusers folder or a "
                             "single-file .safetensors checkpoint")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="output folder (new or empty, or the run to --resume)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    data = parser.add_argument_group("data")
    data.add_argument("--caption-column", default=d["caption_column"], metavar="NAME",
                      help=f"metadata/data set column with the caption (default {d['caption_column']})")
    data.add_argument("--image-column", default=d["image_column"], metavar="NAME",
                      help=f"data set column with the image (default {d['image_column']})")
    data.add_argument("--trigger-word", default="", metavar="WORD",
                      help='appended to every caption: "pixelartstyle" makes "a knight, pixelartstyle"')
    data.add_argument("--resolution", type=int, metavar="PX",
                      help="square training size, a multiple of 8 (default: the model's own, 512 or 768)")
    data.add_argument("--resample", choices=tuple(RESAMPLE), default=d["resample"],
                      help="auto (default): whole-number nearest-neighbour for pixel art, Lanczos for the rest")
    data.add_argument("--crop", choices=CROPS, default=d["crop"], help="which square to train on (default center)")
    data.add_argument("--flip", action="store_true", help="mirror half of the images at random")
    data.add_argument("--caption-dropout", type=float, default=d["caption_dropout"], metavar="P",
                      help="share of captions trained as empty, for guidance (default 0)")
    data.add_argument("--no-cache", dest="cache", action="store_false",
                      help="encode every image and caption again each time (less memory for big data sets)")

    lora = parser.add_argument_group("LoRA")
    lora.add_argument("--rank", type=int, default=d["rank"], metavar="R", help=f"LoRA rank (default {d['rank']})")
    lora.add_argument("--lora-alpha", type=float, metavar="A", help="LoRA alpha; the update is scaled by alpha/rank (default: the rank)")
    lora.add_argument("--target-modules", default=",".join(d["target_modules"]), metavar="NAMES",
                      help=f"UNet layers that get a LoRA, comma-separated (default {','.join(d['target_modules'])})")
    lora.add_argument("--train-text-encoder", action="store_true", help="also put a LoRA on the text encoder")

    train = parser.add_argument_group("training")
    train.add_argument("--steps", type=int, default=d["steps"], metavar="N",
                       help=f"total optimizer steps, counting resumed ones (default {d['steps']})")
    train.add_argument("--learning-rate", type=float, default=d["learning_rate"], metavar="LR",
                       help=f"AdamW learning rate (default {d['learning_rate']:g})")
    train.add_argument("--lr-scheduler", choices=LR_SCHEDULES, default=d["lr_scheduler"],
                       help=f"learning-rate schedule (default {d['lr_scheduler']})")
    train.add_argument("--warmup-steps", type=int, default=d["warmup_steps"], metavar="N",
                       help="learning-rate warm-up steps (default 0)")
    train.add_argument("--batch-size", type=int, default=d["batch_size"], metavar="N",
                       help=f"images per forward pass and GPU (default {d['batch_size']})")
    train.add_argument("--gradient-accumulation", type=int, default=d["gradient_accumulation"], metavar="N",
                       help=f"batches per optimizer step (default {d['gradient_accumulation']}: 16 images a step)")
    train.add_argument("--seed", type=int, default=d["seed"], metavar="SEED", help="seed of everything random (default 0)")
    train.add_argument("--mixed-precision", choices=("auto",) + MIXED_PRECISION, default=d["mixed_precision"],
                       help="auto (default: fp16 on a CUDA GPU, no on CPU), no, bf16, fp16")
    train.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations: less memory, slower steps")
    train.add_argument("--device", metavar="DEV", help="auto (default: CUDA if there is one), cpu or cuda")

    runs = parser.add_argument_group("checkpoints and validation")
    runs.add_argument("--checkpoint-every", type=int, default=d["checkpoint_every"], metavar="N",
                      help=f"save the training state every N steps; 0: only at the end (default {d['checkpoint_every']})")
    runs.add_argument("--keep-checkpoints", type=int, default=d["keep_checkpoints"], metavar="N",
                      help=f"how many of the newest checkpoints stay (default {d['keep_checkpoints']})")
    runs.add_argument("--resume", action="store_true", help="continue the run in OUT from its newest checkpoint")
    runs.add_argument("--validate-every", type=int, default=d["validate_every"], metavar="N",
                      help=f"render the validation prompts and a morph GIF every N steps and at the end; 0: never "
                           f"(default {d['validate_every']})")
    runs.add_argument("--validation-prompt", dest="validation_prompts", action="append", default=[], metavar="TEXT",
                      help="a validation prompt (repeat for more; default: the first two captions)")
    runs.add_argument("--validation-frames", type=int, default=d["validation_frames"], metavar="N",
                      help=f"frames per transition of the validation GIF (default {d['validation_frames']})")
    runs.add_argument("--validation-steps", type=int, metavar="N", help="denoising steps of validation renders (default: the model's)")
    runs.add_argument("--log-every", type=int, default=d["log_every"], metavar="N",
                      help=f"write the mean loss to OUT/log.txt (and TensorBoard) every N steps (default {d['log_every']})")
    runs.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                      help="no TensorBoard logs (written to OUT/tensorboard when tensorboard is installed)")

    parser.error = _one_line_error(parser)
    parser.set_defaults(run=run)
    return parser


CONFIG_FLAGS = ("data", "model", "output", "resolution", "resample", "crop", "flip", "caption_column", "image_column",
                "trigger_word", "caption_dropout", "cache", "rank", "lora_alpha", "train_text_encoder", "steps",
                "learning_rate", "lr_scheduler", "warmup_steps", "batch_size", "gradient_accumulation", "seed",
                "mixed_precision", "gradient_checkpointing", "device", "checkpoint_every", "keep_checkpoints", "resume",
                "validate_every", "validation_prompts", "validation_frames", "validation_steps", "log_every", "tensorboard")  # fmt: skip


def build_config(args):
    """Return the LoraTrainConfig that the parsed ``args`` ask for."""
    from ..train.lora import LoraTrainConfig

    targets = tuple(t.strip() for t in args.target_modules.split(",") if t.strip())
    return LoraTrainConfig(target_modules=targets, **{name: getattr(args, name) for name in CONFIG_FLAGS})


def run(args) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (cli.main sets it too)
    config = build_config(args)
    from ..train.lora import check_inputs

    examples = check_inputs(config)  # bad data or output fails before the slow imports and model load
    _quiet_libraries()
    from ..train.lora import train_lora

    result = train_lora(config, progress=not args.quiet, log=lambda line: print(line, file=sys.stderr), examples=examples)
    if not result.main_process:
        return 0  # under accelerate launch, one summary line is enough
    loss = f", last loss {result.losses[-1]:.4f}" if result.losses else ""
    print(f"wrote {result.lora} ({len(examples)} images, {result.steps} steps{loss}, {result.seconds:.1f} s)")
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
