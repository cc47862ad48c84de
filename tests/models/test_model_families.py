"""Model families beyond SD 1.x/2.x: pixelgif renders what diffusers itself renders, tensor for tensor.

Tiny random models built from configs (no download): weights do not matter for these checks,
since the engine must drive the same pipeline code with the same inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelgif.errors import PixelgifError
from pixelgif.models import backend_of
from pixelgif.models.loading import load_pipeline
from pixelgif.morph.config import SCHEDULERS, MorphConfig
from pixelgif.morph.engine import MorphPipeline
from pixelgif.run import load_engine

PROMPTS = ["a red dragon", "a blue whale"]


@pytest.fixture(scope="module")
def sdxl(tiny_sdxl):
    return load_engine(str(tiny_sdxl), progress=False)


def _config(**overrides):
    options = dict(prompts=PROMPTS, seeds=[3, 4], frames=3, steps=2, guidance_scale=5.0, spacing="linear")
    return MorphConfig(**{**options, **overrides})


def _uint8(image) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def test_sdxl_conditioning_has_the_pooled_embeddings(sdxl):
    (first, _) = sdxl.encode_prompts(PROMPTS, None, 5.0)
    expected = {"prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds"}
    assert set(first) == expected
    assert first["prompt_embeds"].shape == (1, 77, 64) and first["pooled_prompt_embeds"].shape == (1, 32)


@pytest.mark.parametrize("keyframe", [0, 1])
def test_sdxl_keyframe_is_what_diffusers_renders(sdxl, tiny_sdxl, keyframe):
    from diffusers import StableDiffusionXLPipeline

    result = sdxl(_config())
    latents = sdxl.prepare_keyframe_latents([[3, 4][keyframe]], 32, 32)[0]
    reference = StableDiffusionXLPipeline.from_pretrained(tiny_sdxl)
    reference.set_progress_bar_config(disable=True)
    expected = reference(
        PROMPTS[keyframe], latents=latents, num_inference_steps=2, guidance_scale=5.0, height=32, width=32,
        output_type="np", generator=torch.Generator("cpu").manual_seed(0),
    ).images[0]  # fmt: skip
    frame = result.keyframe_indices[keyframe]
    assert np.array_equal(np.asarray(result.frames[frame]), _uint8(expected))


def test_sdxl_in_betweens_move_between_the_keyframes(sdxl):
    result = sdxl(_config(frames=4))
    frames = [np.asarray(f, dtype=np.float64) for f in result.frames]
    assert len(frames) == 5
    start, end = frames[0], frames[-1]
    distance_to_start = [np.abs(f - start).mean() for f in frames]
    distance_to_end = [np.abs(f - end).mean() for f in frames]
    assert distance_to_start[0] == 0 and distance_to_end[-1] == 0
    assert distance_to_start[2] > 0 and distance_to_end[2] > 0  # the middle frame is neither keyframe
    assert distance_to_start[1] < distance_to_start[-1] and distance_to_end[-2] < distance_to_end[0]


def test_sdxl_runs_with_few_step_schedulers(sdxl):
    assert {"LCM", "TCD"} <= set(SCHEDULERS)
    for name in ("LCM", "TCD"):
        result = sdxl(_config(scheduler=name, guidance_scale=1.0))
        assert len(result.frames) == 4 and type(sdxl.pipe.scheduler).__name__ == f"{name}Scheduler"


def test_single_file_sdxl_checkpoint_is_recognised(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    path = tmp_path / "xl.safetensors"
    save_file({"conditioner.embedders.1.model.x": torch.zeros(1), "model.diffusion_model.y": torch.zeros(1)}, str(path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PixelgifError) as error:
        load_pipeline(str(path), device="cpu")
    message = str(error.value)
    assert "not supported" not in message and "\n" not in message and "network" in message


def test_stacked_loras_are_named_adapters_at_their_weights(tiny_sd, tiny_lora, tmp_path):
    from conftest import build_tiny_lora, check_stacked_loras

    other = build_tiny_lora(tiny_sd, tmp_path / "other.safetensors", seed=2)
    check_stacked_loras(tiny_sd, tiny_lora, other, MorphConfig(prompts=PROMPTS, frames=2, steps=2, spacing="linear"))


def test_lora_preset_sets_scheduler_steps_and_guidance(tiny_sdxl):
    from pixelgif.models.presets import LORA_PRESETS

    engine = load_engine(str(tiny_sdxl), progress=False)
    engine = MorphPipeline(backend_of(engine.pipe, [LORA_PRESETS["lcm-sdxl"]]), progress=False)
    resolved = engine.resolve(MorphConfig(prompts=PROMPTS))
    assert (resolved.steps, resolved.guidance_scale) == (8, 1.5)
    assert type(engine.pipe.scheduler).__name__ == "LCMScheduler"
    given = engine.resolve(MorphConfig(prompts=PROMPTS, steps=4, guidance_scale=2.0))
    assert (given.steps, given.guidance_scale) == (4, 2.0)  # flags win over the preset


def test_lora_weights_parse_from_the_command_line(tmp_path):
    from pixelgif.cli import build_parser
    from pixelgif.cli.morph import build_request
    from pixelgif.models.presets import effective_model, parse_lora

    assert parse_lora("pixel-art-xl:1.2") == ("pixel-art-xl", 1.2)
    assert parse_lora("owner/name") == ("owner/name", 1.0) and parse_lora("a:b") == ("a:b", 1.0)
    args = build_parser().parse_args(
        ["morph", "a", "b", "--lora", "pixel-art-xl:1.2", "--lora", "lcm-sdxl", "-o", str(tmp_path / "x.gif")]
    )
    request = build_request(args)
    assert request.model["lora"] == ["pixel-art-xl:1.2", "lcm-sdxl"]
    assert effective_model(None, request.model["lora"]) == "stabilityai/stable-diffusion-xl-base-1.0"


def test_vae_flag_replaces_the_models_vae(tiny_sdxl, tiny_sd, tmp_path):
    config = _config(frames=2)
    plain = np.asarray(load_engine(str(tiny_sdxl), progress=False)(config).frames[0])
    same = load_engine(str(tiny_sdxl), vae=str(tiny_sdxl / "vae"), progress=False)
    other = load_engine(str(tiny_sdxl), vae=str(tiny_sd), progress=False)  # its vae/ subfolder
    assert np.array_equal(np.asarray(same(config).frames[0]), plain)
    assert not np.array_equal(np.asarray(other(config).frames[0]), plain)
    with pytest.raises(PixelgifError, match=r"no config\.json"):
        load_pipeline(str(tiny_sdxl), vae=str(tmp_path), device="cpu")
    with pytest.raises(PixelgifError, match="bundled sprite model has none"):
        load_pipeline(None, vae=str(tiny_sdxl / "vae"), device="cpu")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lora", "pixel-art-xl:9"], "LoRA weight 9 of LoRA 'pixel-art-xl' is out of range: use -4 to 4"),
        (["--lora", "pixel-art-xl:nan"], "LoRA weight nan of LoRA 'pixel-art-xl' is out of range"),
        (["--lora", "pixel-art-xl", "--lora-scale", "-7"], "LoRA weight -7 --lora-scale is out of range"),
    ],
)
def test_lora_weights_out_of_range_are_one_line_errors(argv, message, tmp_path, capsys):
    from pixelgif.cli import main

    out = tmp_path / "x.gif"
    assert main(["morph", "a", "b", *argv, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not out.exists()
