"""``pixelgif train``: fine-tune a pixel-art LoRA on a Stable Diffusion model, or (``--full``) train the
bundled sprite model's every weight, from captioned images."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

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
OUT/training.json and OUT/tensorboard/ (when tensorboard is installed).

--full trains every weight of the bundled 32x32 RGBA sprite model instead (no --model): from the
shipped weights (--init bundled, the default: fine-tune it on your sprites), from random weights
(--init scratch) or from a model folder made by --full (--init PATH). Images become 32x32 RGBA
sprites through pixelgif's pixel-art engine (transparency kept); EMA weights, float32. OUT is
then a model folder (unet/, scheduler/, pixelgif_model.json) for `pixelgif morph --model OUT`,
with the same checkpoints/, validation/, log.txt and training.json."""

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
  pixelgif train sprites/ --full -o my-sprites --steps 1000
  pixelgif morph "a knight" "a wizard" --model my-sprites -o knight.gif

Mixed precision defaults to fp16 on a CUDA GPU and none on CPU (LoRA), none everywhere (--full); on
a 2-core CPU bf16 autocast was 11-17 % slower than float32 for the bundled UNet
(benchmarks/train_full_step.py measures your machine). Ctrl-C stops at once; the last checkpoint stays."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..train.full import FullTrainConfig
    from ..train.lora import LoraTrainConfig

    d: dict[str, Any] = {name: f.default for name, f in LoraTrainConfig.__dataclass_fields__.items()}
    f: dict[str, Any] = {name: f.default for name, f in FullTrainConfig.__dataclass_fields__.items()}
    parser = subparsers.add_parser(
        "train", help="fine-tune a pixel-art LoRA (or, with --full, the sprite model) from captioned images", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "data", metavar="DATA", help="image folder (.txt captions or metadata.jsonl/.csv), .parquet, or hub data set id"
    )
    parser.add_argument(
        "--model",
        metavar="NAME|PATH|HUB_ID",
        help="base Stable Diffusion model: a preset (sd2.1), a hub id, a diffusers folder or a "
        "single-file .safetensors checkpoint (with --full: bundled, the default)",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="output folder (new or empty, or the run to --resume)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    _add_full_options(parser, f)
    _add_data_options(parser, d, f)
    _add_lora_options(parser, d)
    _add_training_options(parser, d, f)
    _add_run_options(parser, d, f)

    parser.error = _one_line_error(parser)
    parser.set_defaults(run=run)
    return parser


def _add_full_options(parser, f: dict[str, Any]) -> None:
    """Add the full training (--full): --full, --init, --ema-decay flags (defaults: ``d`` LoRA, ``f`` full training)."""
    full = parser.add_argument_group("full training (--full)")
    full.add_argument(
        "--full",
        action="store_true",
        help="train every weight of the bundled sprite model, not a LoRA; OUT becomes a model folder",
    )
    full.add_argument(
        "--init",
        metavar="bundled|scratch|PATH",
        help="--full starts from the shipped weights (bundled, default), random ones (scratch) or a "
        "model folder made by --full",
    )
    full.add_argument(
        "--ema-decay",
        type=float,
        metavar="D",
        help=f"--full: the model is an average of the weights with this decay; 0: none (default {f['ema_decay']})",
    )


def _add_data_options(parser, d: dict[str, Any], f: dict[str, Any]) -> None:
    """Add the data: reading, captions, resizing, augmentation flags (defaults: ``d`` LoRA, ``f`` full training)."""
    from ..train.preprocess import CROPS, RESAMPLE

    data = parser.add_argument_group("data")
    data.add_argument(
        "--caption-column",
        default=d["caption_column"],
        metavar="NAME",
        help=f"metadata/data set column with the caption (default {d['caption_column']})",
    )
    data.add_argument(
        "--image-column",
        default=d["image_column"],
        metavar="NAME",
        help=f"data set column with the image (default {d['image_column']})",
    )
    data.add_argument(
        "--trigger-word",
        default="",
        metavar="WORD",
        help='appended to every caption: "pixelartstyle" makes "a knight, pixelartstyle"',
    )
    data.add_argument(
        "--resolution",
        type=int,
        metavar="PX",
        help="square training size, a multiple of 8 (default: the model's own, 512 or 768)",
    )
    data.add_argument(
        "--resample",
        choices=tuple(RESAMPLE),
        help="auto (default): whole-number nearest-neighbour for pixel art, Lanczos for the rest",
    )
    data.add_argument("--crop", choices=CROPS, help="which square to train on (default center)")
    data.add_argument("--flip", action="store_true", help="mirror half of the images at random")
    data.add_argument(
        "--caption-dropout",
        type=float,
        metavar="P",
        help=f"share of captions trained as empty, for guidance (default 0; --full: {f['caption_dropout']})",
    )
    data.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="encode every image and caption again each time (less memory for big data sets)",
    )


def _add_lora_options(parser, d: dict[str, Any]) -> None:
    """Add the LoRA: rank, alpha, targets flags (defaults: ``d`` LoRA, ``f`` full training)."""
    lora = parser.add_argument_group("LoRA")
    lora.add_argument("--rank", type=int, metavar="R", help=f"LoRA rank (default {d['rank']})")
    lora.add_argument(
        "--lora-alpha",
        type=float,
        metavar="A",
        help="LoRA alpha; the update is scaled by alpha/rank (default: the rank)",
    )
    lora.add_argument(
        "--target-modules",
        metavar="NAMES",
        help=f"UNet layers that get a LoRA, comma-separated (default {','.join(d['target_modules'])})",
    )
    lora.add_argument("--train-text-encoder", action="store_true", help="also put a LoRA on the text encoder")


def _add_training_options(parser, d: dict[str, Any], f: dict[str, Any]) -> None:
    """Add the training: steps, optimizer, precision flags (defaults: ``d`` LoRA, ``f`` full training)."""
    from ..train.options import LR_SCHEDULES, MIXED_PRECISION

    train = parser.add_argument_group("training")
    train.add_argument(
        "--steps", type=int, metavar="N", help=f"total optimizer steps, counting resumed ones (default {d['steps']})"
    )
    train.add_argument(
        "--learning-rate",
        type=float,
        metavar="LR",
        help=f"AdamW learning rate (default {d['learning_rate']:g}; --full: 1e-4, from scratch 3e-4)",
    )
    train.add_argument(
        "--lr-scheduler",
        choices=LR_SCHEDULES,
        default=d["lr_scheduler"],
        help=f"learning-rate schedule (default {d['lr_scheduler']})",
    )
    train.add_argument(
        "--warmup-steps",
        type=int,
        metavar="N",
        help=f"learning-rate warm-up steps (default 0; --full: {f['warmup_steps']})",
    )
    train.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help=f"images per forward pass and GPU (default {d['batch_size']}; --full: {f['batch_size']})",
    )
    train.add_argument(
        "--gradient-accumulation",
        type=int,
        metavar="N",
        help=f"batches per optimizer step (default {d['gradient_accumulation']}: 16 images a step; "
        f"--full: {f['gradient_accumulation']})",
    )
    train.add_argument(
        "--snr-gamma",
        type=float,
        metavar="G",
        help="Min-SNR-gamma loss weighting, often faster to converge (5 is typical; default 0: plain MSE)",
    )
    train.add_argument(
        "--seed", type=int, default=d["seed"], metavar="SEED", help="seed of everything random (default 0)"
    )
    train.add_argument(
        "--mixed-precision",
        choices=("auto", *MIXED_PRECISION),
        default=d["mixed_precision"],
        help="auto (default: fp16 on a CUDA GPU, no on CPU; --full: no), no, bf16, fp16",
    )
    train.add_argument(
        "--gradient-checkpointing", action="store_true", help="recompute activations: less memory, slower steps"
    )
    train.add_argument("--device", metavar="DEV", help="auto (default: CUDA if there is one), cpu or cuda")


def _add_run_options(parser, d: dict[str, Any], f: dict[str, Any]) -> None:
    """Add the checkpoints and validation flags (defaults: ``d`` LoRA, ``f`` full training)."""
    runs = parser.add_argument_group("checkpoints and validation")
    runs.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help=f"save the training state every N steps; 0: only at the end (default {d['checkpoint_every']}; "
        f"--full: {f['checkpoint_every']})",
    )
    runs.add_argument(
        "--keep-checkpoints",
        type=int,
        default=d["keep_checkpoints"],
        metavar="N",
        help=f"how many of the newest checkpoints stay (default {d['keep_checkpoints']})",
    )
    runs.add_argument("--resume", action="store_true", help="continue the run in OUT from its newest checkpoint")
    runs.add_argument(
        "--validate-every",
        type=int,
        metavar="N",
        help=f"render the validation prompts and a morph GIF every N steps and at the end; 0: never "
        f"(default {d['validate_every']}; --full: {f['validate_every']})",
    )
    runs.add_argument(
        "--validation-prompt",
        dest="validation_prompts",
        action="append",
        default=[],
        metavar="TEXT",
        help="a validation prompt (repeat for more; default: the first two captions)",
    )
    runs.add_argument(
        "--validation-frames",
        type=int,
        default=d["validation_frames"],
        metavar="N",
        help=f"frames per transition of the validation GIF (default {d['validation_frames']})",
    )
    runs.add_argument(
        "--validation-steps", type=int, metavar="N", help="denoising steps of validation renders (default: the model's)"
    )
    runs.add_argument(
        "--log-every",
        type=int,
        default=d["log_every"],
        metavar="N",
        help=f"write the mean loss to OUT/log.txt (and TensorBoard) every N steps (default {d['log_every']})",
    )
    runs.add_argument(
        "--no-tensorboard",
        dest="tensorboard",
        action="store_false",
        help="no TensorBoard logs (written to OUT/tensorboard when tensorboard is installed)",
    )


# Flags that only mean something for one kind of training; given for the other, they are refused.
LORA_ONLY = (
    "rank",
    "lora_alpha",
    "target_modules",
    "train_text_encoder",
    "resolution",
    "resample",
    "crop",
    "gradient_checkpointing",
    "cache",
)
FULL_ONLY = ("init", "ema_decay")
FULL_FLAGS = (
    "data",
    "model",
    "output",
    "init",
    "ema_decay",
    "flip",
    "caption_column",
    "image_column",
    "trigger_word",
    "caption_dropout",
    "steps",
    "snr_gamma",
    "learning_rate",
    "lr_scheduler",
    "warmup_steps",
    "batch_size",
    "gradient_accumulation",
    "seed",
    "mixed_precision",
    "device",
    "checkpoint_every",
    "keep_checkpoints",
    "resume",
    "validate_every",
    "validation_prompts",
    "validation_frames",
    "validation_steps",
    "log_every",
    "tensorboard",
)
CONFIG_FLAGS = ("data", "model", "output", "resolution", "resample", "crop", "flip", "caption_column", "image_column",
                "trigger_word", "caption_dropout", "cache", "rank", "lora_alpha", "train_text_encoder", "steps", "snr_gamma",
                "learning_rate", "lr_scheduler", "warmup_steps", "batch_size", "gradient_accumulation", "seed",
                "mixed_precision", "gradient_checkpointing", "device", "checkpoint_every", "keep_checkpoints", "resume",
                "validate_every", "validation_prompts", "validation_frames", "validation_steps", "log_every", "tensorboard")  # fmt: skip


def _given(args, name) -> bool:
    """Return True when the user set flag ``name`` (store_true flags: to True; --no-cache: to False)."""
    value = getattr(args, name)
    return value is not None and value is not False if name != "cache" else value is False


def _flag(name: str) -> str:
    return "--no-cache" if name == "cache" else "--" + name.replace("_", "-")


def build_config(args):
    """Return the LoraTrainConfig (or with --full the FullTrainConfig) that the parsed ``args`` ask for.

    Flags left unset take the config's own defaults, which differ between the two kinds.
    """
    from ..errors import PixelgifError

    wrong = [name for name in (LORA_ONLY if args.full else FULL_ONLY) if _given(args, name)]
    if wrong:
        kind = "LoRA training, not --full" if args.full else "--full training"
        raise PixelgifError(f"{', '.join(map(_flag, wrong))} {'is' if len(wrong) == 1 else 'are'} only for {kind}")
    if args.full:
        from ..train.full import FullTrainConfig

        return FullTrainConfig(**{name: getattr(args, name) for name in FULL_FLAGS if getattr(args, name) is not None})
    from ..train.lora import LoraTrainConfig

    if args.model is None:
        raise PixelgifError("give the base model with --model (a Stable Diffusion preset, hub id, folder or "
                            ".safetensors file), or --full to train the bundled sprite model")  # fmt: skip
    options = {name: getattr(args, name) for name in CONFIG_FLAGS if getattr(args, name) is not None}
    if args.target_modules is not None:
        options["target_modules"] = tuple(t.strip() for t in args.target_modules.split(",") if t.strip())
    return LoraTrainConfig(**options)


def run(args) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (cli.main sets it too)
    config = build_config(args)
    if args.full:
        return run_full(config, args)
    from ..train.lora import check_inputs

    examples = check_inputs(config)  # bad data or output fails before the slow imports and model load
    _quiet_libraries()
    from ..train.lora import train_lora

    result = train_lora(
        config, progress=not args.quiet, log=lambda line: print(line, file=sys.stderr), examples=examples
    )
    if not result.main_process:
        return 0  # under accelerate launch, one summary line is enough
    loss = f", last loss {result.losses[-1]:.4f}" if result.losses else ""
    print(f"wrote {result.lora} ({len(examples)} images, {result.steps} steps{loss}, {result.seconds:.1f} s)")
    return 0


def run_full(config, args) -> int:
    """Train the bundled sprite model as ``config`` says; print one summary line."""
    from ..train.full import check_inputs

    data = check_inputs(config)  # bad data or output fails before the slow imports
    _quiet_libraries()
    from ..train.full import train_full

    result = train_full(config, progress=not args.quiet, log=lambda line: print(line, file=sys.stderr), data=data)
    loss = f", last loss {result.losses[-1]:.4f}" if result.losses else ""
    print(
        f"wrote model {result.output} ({len(data.captions)} sprites, {result.steps} steps{loss}, "
        f"{result.seconds:.1f} s): pixelgif morph --model {result.output}"
    )
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
