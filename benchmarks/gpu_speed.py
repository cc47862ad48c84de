"""GPU speed of full-size morphs: SD 2.1 (768x768) and SDXL (1024x1024) built from their real configs.

The weights are random (nothing is downloaded): speed and memory do not depend on their values.
For each model it times a two-prompt morph of ``--frames`` frames end to end (text, denoise, VAE,
pixelate) at each batch size, and prints seconds per frame, peak GPU memory and the best batch.

    python benchmarks/gpu_speed.py                          # both models, fp16, batch 1,2,4,8, 40 frames
    python benchmarks/gpu_speed.py --models sdxl --steps 8 --scheduler LCM --batch-sizes 4,8
    python benchmarks/gpu_speed.py --tiny --device cpu      # a seconds-long smoke run of the script itself

``--tiny`` shrinks every width and depth (same layer types), for checking the script without a GPU.
"""

from __future__ import annotations

import argparse
import os
import string
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

PROMPTS = ["pixel art, a knight in armour", "pixel art, a wizard with a staff"]


def _tokenizer(folder: Path):
    """Return a CLIP tokenizer over a character vocabulary written to ``folder`` (the real one needs a download)."""
    import json

    from transformers import CLIPTokenizer

    chars = list(string.ascii_lowercase + string.digits + ".,!?-' ")
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def _text_config(hidden: int, layers: int, heads: int, projection: int, tiny: bool):
    from transformers import CLIPTextConfig

    if tiny:
        hidden, layers, heads, projection = 32, 2, 4, 32
    return CLIPTextConfig(vocab_size=49408, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                          num_attention_heads=heads, projection_dim=projection, hidden_act="gelu",
                          max_position_embeddings=77)  # fmt: skip


def _vae(tiny: bool):
    from diffusers import AutoencoderKL

    channels = (16, 32) if tiny else (128, 256, 512, 512)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=channels,
                         layers_per_block=1 if tiny else 2, down_block_types=("DownEncoderBlock2D",) * len(channels),
                         up_block_types=("UpDecoderBlock2D",) * len(channels), norm_num_groups=8 if tiny else 32)  # fmt: skip


def build_sd21(tiny: bool, work: Path):
    """Return a StableDiffusionPipeline with SD 2.1's architecture (OpenCLIP ViT-H text encoder, 768 px)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    text = _text_config(1024, 23, 16, 512, tiny)
    unet = UNet2DConditionModel(
        sample_size=16 if tiny else 96, in_channels=4, out_channels=4, layers_per_block=1 if tiny else 2,
        block_out_channels=(16, 32) if tiny else (320, 640, 1280, 1280),
        down_block_types=(("CrossAttnDownBlock2D", "DownBlock2D") if tiny else
                          ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",)),
        up_block_types=(("UpBlock2D", "CrossAttnUpBlock2D") if tiny else ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3),
        attention_head_dim=(2, 4) if tiny else (5, 10, 20, 20), cross_attention_dim=text.hidden_size,
        use_linear_projection=True, upcast_attention=not tiny, norm_num_groups=8 if tiny else 32,
    )  # fmt: skip
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1, prediction_type="v_prediction")  # fmt: skip
    return StableDiffusionPipeline(vae=_vae(tiny), text_encoder=CLIPTextModel(text), tokenizer=_tokenizer(work / "tok"),
                                   unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)  # fmt: skip


def build_sdxl(tiny: bool, work: Path):
    """Return a StableDiffusionXLPipeline with SDXL 1.0's architecture (CLIP ViT-L + OpenCLIP bigG, 1024 px)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    first, second = _text_config(768, 12, 12, 768, tiny), _text_config(1280, 32, 20, 1280, tiny)
    time_dim = 8 if tiny else 256
    unet = UNet2DConditionModel(
        sample_size=16 if tiny else 128, in_channels=4, out_channels=4, layers_per_block=1 if tiny else 2,
        block_out_channels=(16, 32) if tiny else (320, 640, 1280),
        down_block_types=(("DownBlock2D", "CrossAttnDownBlock2D") if tiny else
                          ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")),
        up_block_types=(("CrossAttnUpBlock2D", "UpBlock2D") if tiny else
                        ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")),
        transformer_layers_per_block=(1, 2) if tiny else (1, 2, 10), attention_head_dim=(2, 4) if tiny else (5, 10, 20),
        cross_attention_dim=first.hidden_size + second.hidden_size, use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=second.projection_dim + 6 * time_dim, norm_num_groups=8 if tiny else 32,
    )  # fmt: skip
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")  # fmt: skip
    tokenizer = _tokenizer(work / "tok")
    return StableDiffusionXLPipeline(vae=_vae(tiny), text_encoder=CLIPTextModel(first),
                                     text_encoder_2=CLIPTextModelWithProjection(second), tokenizer=tokenizer,
                                     tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)  # fmt: skip


BUILDERS = {"sd2.1": build_sd21, "sdxl": build_sdxl}


def time_morph(pipe, frames: int, steps: int, batch: int, scheduler: str | None, device: torch.device) -> dict:
    """Return seconds, seconds per frame and peak memory (GiB, CUDA only) of one two-prompt morph."""
    from pixelgif.models import backend_of
    from pixelgif.morph.config import MorphConfig
    from pixelgif.morph.engine import MorphPipeline

    engine = MorphPipeline(backend_of(pipe), progress=False)
    config = MorphConfig(prompts=PROMPTS, frames=frames - 1, steps=steps, batch_size=batch, spacing="linear",
                         scheduler=scheduler)  # fmt: skip
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = engine(config)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return {
        "seconds": seconds,
        "per_frame": seconds / len(result.frames),
        "peak_gib": peak,
        "frames": len(result.frames),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="sd2.1,sdxl", help="comma-separated: sd2.1, sdxl")
    parser.add_argument("--frames", type=int, default=40, help="frames of the morph (default 40)")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--scheduler", default=None, help="a pixelgif scheduler name (default: the model's)")
    parser.add_argument("--batch-sizes", default="1,2,4,8")
    parser.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default="float16")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="shrunken models, for a smoke run without a GPU")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}; torch {torch.__version__}; {args.dtype}; {args.frames} frames, {args.steps} steps; random weights")
    print(f"{'model':<7} {'batch':>5} {'seconds':>8} {'s/frame':>8} {'peak GiB':>8}")
    with tempfile.TemporaryDirectory() as work:
        for model in args.models.split(","):
            torch.manual_seed(0)
            pipe = BUILDERS[model.strip()](args.tiny, Path(work) / model).to(device, dtype)
            pipe.set_progress_bar_config(disable=True)
            time_morph(pipe, 3, 1, 1, args.scheduler, device)  # warm-up: kernels, allocator
            rows = []
            for batch in (int(b) for b in args.batch_sizes.split(",")):
                try:
                    row = time_morph(pipe, args.frames, args.steps, batch, args.scheduler, device)
                except torch.cuda.OutOfMemoryError:
                    print(f"{model:<7} {batch:>5} out of memory")
                    torch.cuda.empty_cache()
                    break
                rows.append((batch, row))
                print(f"{model:<7} {batch:>5} {row['seconds']:>8.2f} {row['per_frame']:>8.3f} {row['peak_gib']:>8.2f}")
            if rows:
                batch, best = min(rows, key=lambda r: r[1]["seconds"])
                print(f"{model}: best batch {batch}, {best['per_frame']:.3f} s per frame")
            del pipe
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
