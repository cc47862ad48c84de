"""SD3/3.5 and Flux: transformer denoisers (Flux with packed latents) driven by the same engine.

As for SDXL, a keyframe must be what diffusers itself renders from the same prompt and initial noise,
tensor for tensor; tiny random pipelines built from configs stand in for the real weights.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image

from pixelgif.cli import main
from pixelgif.errors import PixelgifError
from pixelgif.models import backend_of
from pixelgif.models.loading import load_pipeline
from pixelgif.morph.config import MorphConfig
from pixelgif.morph.engine import MorphPipeline
from pixelgif.run import load_engine

PROMPTS = ["a red dragon", "a blue whale"]
FAMILIES = ["tiny_sd3", "tiny_flux"]
CONDITIONING = {
    "tiny_sd3": {"prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds"},
    "tiny_flux": {"prompt_embeds", "pooled_prompt_embeds"},  # guidance-distilled: no negative prompt
}


@pytest.fixture(scope="module", params=FAMILIES)
def family(request):
    """Return (model folder, engine) of each transformer family."""
    folder = request.getfixturevalue(request.param)
    return request.param, folder, load_engine(str(folder), progress=False)


def _config(**overrides):
    options = dict(prompts=PROMPTS, seeds=[3, 4], frames=3, steps=2, guidance_scale=5.0, spacing="linear",
                   height=32, width=32)  # fmt: skip
    return MorphConfig(**{**options, **overrides})


def _uint8(image) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _reference(folder):
    """Return the diffusers pipeline saved in ``folder``, loaded by diffusers alone."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_conditioning_is_every_tensor_encode_prompt_returns(family):
    name, _, engine = family
    first, second = engine.encode_prompts(PROMPTS, None, 5.0)
    assert set(first) == set(second) == CONDITIONING[name]
    assert first["pooled_prompt_embeds"].ndim == 2 and first["prompt_embeds"].ndim == 3
    assert not torch.equal(first["prompt_embeds"], second["prompt_embeds"])


@pytest.mark.parametrize("keyframe", [0, 1])
def test_keyframe_is_what_diffusers_renders(family, keyframe):
    name, folder, engine = family
    result = engine(_config(batch_size=1))  # one frame per call, as diffusers renders it below
    noise = engine.prepare_keyframe_latents([[3, 4][keyframe]], 32, 32)[0]
    assert noise.shape == (1, 4, 16, 16)  # drawn in the spatial layout for every family
    reference = _reference(folder)
    if name == "tiny_flux":  # Flux takes its latents packed into 2x2 patch tokens
        noise = reference._pack_latents(noise, 1, 4, 16, 16)
        assert noise.shape == (1, 64, 16)
    expected = reference(
        PROMPTS[keyframe], latents=noise, num_inference_steps=2, guidance_scale=5.0, height=32, width=32,
        output_type="np",
    ).images[0]  # fmt: skip
    frame = np.asarray(result.frames[result.keyframe_indices[keyframe]])
    assert np.array_equal(frame, _uint8(expected))
    # In batches of several frames, float sums run in another order: at most one level off.
    batched = np.asarray(engine(_config(batch_size=4)).frames[result.keyframe_indices[keyframe]])
    assert np.abs(batched.astype(int) - frame).max() <= 1


def test_in_betweens_move_between_the_keyframes(family):
    _, _, engine = family
    frames = [np.asarray(f, dtype=np.float64) for f in engine(_config(frames=4)).frames]
    assert len(frames) == 5
    to_start = [np.abs(f - frames[0]).mean() for f in frames]
    to_end = [np.abs(f - frames[-1]).mean() for f in frames]
    assert to_start[0] == 0 and to_end[-1] == 0
    assert to_start[2] > 0 and to_end[2] > 0  # the middle frame is neither keyframe
    assert to_start[1] < to_start[-1] and to_end[-2] < to_end[0]


def test_each_family_has_its_own_guidance_default(family):
    name, _, engine = family
    resolved = engine.resolve(MorphConfig(prompts=PROMPTS))
    assert resolved.guidance_scale == {"tiny_sd3": 7.0, "tiny_flux": 3.5}[name]  # as diffusers' __call__
    assert (resolved.height, resolved.width) == engine.default_size()


def test_sizes_the_latent_layout_cannot_take_are_one_line_errors(family):
    name, _, engine = family
    multiple = {"tiny_sd3": 2, "tiny_flux": 4}[name]  # VAE factor 2; Flux packs 2x2 latent cells
    with pytest.raises(ValueError, match=f"multiples of {multiple} for this model, got 31x31"):
        engine.prepare_keyframe_latents([1], 31, 31)
    assert engine.prepare_keyframe_latents([1], 2 * multiple, 2 * multiple)[0].shape[-1] == multiple


def test_stacked_transformer_loras_change_the_frames_at_their_weights(family, tmp_path):
    from conftest import build_tiny_transformer_lora, check_stacked_loras

    _, folder, _ = family
    first = build_tiny_transformer_lora(folder, tmp_path / "first.safetensors", seed=1)
    second = build_tiny_transformer_lora(folder, tmp_path / "second.safetensors", seed=2)
    check_stacked_loras(folder, first, second, _config(frames=2))


def test_a_lora_for_another_family_names_both(tiny_flux, tiny_lora):
    with pytest.raises(PixelgifError) as error:
        load_pipeline(str(tiny_flux), lora=str(tiny_lora), device="cpu")
    message = str(error.value)
    assert "\n" not in message and str(tiny_lora) in message and str(tiny_flux) in message


def _constant_velocity(engine: MorphPipeline) -> MorphPipeline:
    """Return a copy of ``engine`` whose transformer predicts the same velocity everywhere: Euler
    sampling is then exactly invertible, so inversion must give back the image to float precision."""
    pipe = copy.copy(engine.pipe)
    pipe.transformer = copy.deepcopy(engine.pipe.transformer)
    with torch.no_grad():
        pipe.transformer.proj_out.weight.zero_()
        pipe.transformer.proj_out.bias.copy_(torch.linspace(-0.5, 0.5, pipe.transformer.proj_out.bias.numel()))
    return MorphPipeline(backend_of(pipe), progress=False)


def test_image_keyframe_inverts_exactly_where_euler_sampling_is_invertible(family):
    from pixelgif.morph.keyframes import Keyframe

    _, _, engine = family
    engine = _constant_velocity(engine)
    sprite = Keyframe(image=Image.new("RGB", (16, 16), (200, 30, 30)), caption="a red square")
    keys = engine.prepare_keyframes(_config(prompts=[sprite, "a blue whale"], steps=4))
    assert keys.config.scheduler is None  # flow models keep their own sampler
    positive = {k: v for k, v in keys.conditionings[0].items() if not k.startswith("negative_")}
    latents = engine.denoiser.to_pipeline(keys.latents[0])
    regenerated = engine.pipe(**positive, latents=latents, num_inference_steps=4, guidance_scale=1.0, height=32,
                              width=32, output_type="latent").images  # fmt: skip
    clean = engine.denoiser.to_pipeline(engine.encode_images([keys.images[0]]))
    assert (regenerated.float() - clean).abs().max() < 1e-4


def test_inversion_velocity_is_the_pipelines_own_step(family):
    """One Euler step with pixelgif's velocity lands where the family's pipeline lands (its schedule,
    guidance embedding, ids and packing), so inverting it walks the sampler's own path back."""
    from pixelgif.morph import flow

    name, _, engine = family
    guidance = {"tiny_sd3": 1.0, "tiny_flux": 3.5}[name]  # SD3: no unconditional half; Flux: embedded guidance
    cond = {
        k: v for k, v in engine.encode_prompts(["a red square"], None, 1.0)[0].items() if not k.startswith("negative_")
    }
    noise = engine.prepare_keyframe_latents([5], 32, 32)[0]
    sigmas, timesteps = flow.sampling_sigmas(engine.pipe, cond, engine.denoiser.to_pipeline(noise), 4, (32, 32))
    seen = {}

    def keep(pipe, step, timestep, kwargs):
        seen.setdefault("latents", kwargs["latents"].clone())
        return kwargs

    engine.pipe(**cond, latents=engine.denoiser.to_pipeline(noise), num_inference_steps=4, guidance_scale=guidance,
                height=32, width=32, output_type="latent", callback_on_step_end=keep)  # fmt: skip
    with torch.no_grad():
        v = flow.velocity(engine.pipe, engine.denoiser, noise, timesteps[0], cond, guidance)
    ours = noise + float(sigmas[1] - sigmas[0]) * v
    assert torch.allclose(engine.denoiser.to_pipeline(ours), seen["latents"], atol=1e-5)


def test_image_and_prompt_morph_keeps_the_image(family):
    _, _, engine = family
    sprite = Image.new("RGB", (32, 32), (200, 30, 30))
    result = engine(_config(prompts=[sprite, "a blue whale"], frames=2))
    assert result.keyframe_indices == [0, 2]
    assert np.array_equal(np.asarray(result.pixel_frames[0].convert("RGB")), np.asarray(sprite))
    assert not np.array_equal(np.asarray(result.frames[1]), np.asarray(result.frames[0]))


def test_unet_schedulers_are_refused_for_flow_models(family):
    _, _, engine = family
    with pytest.raises(ValueError, match="flow-matching scheduler"):
        engine(_config(scheduler="DDIM"))


@pytest.mark.parametrize(
    ("keys", "family"),
    [
        (["model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"], "StableDiffusion3Pipeline"),
        (["double_blocks.0.img_attn.qkv.weight", "single_blocks.0.linear1.weight"], "FluxPipeline"),
        (["model.diffusion_model.double_blocks.0.img_attn.qkv.weight"], "FluxPipeline"),
        (["conditioner.embedders.1.model.x", "model.diffusion_model.y"], "StableDiffusionXLPipeline"),
        (["model.diffusion_model.input_blocks.0.0.weight"], "StableDiffusionPipeline"),
        (["lora_unet_down_blocks_0.alpha"], None),
    ],
)
def test_single_file_checkpoints_are_told_apart_by_their_keys(keys, family):
    from pixelgif.models.loading import single_file_family

    assert single_file_family(keys) == family


def test_single_file_flux_checkpoint_offline_says_it_needs_the_network(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    path = tmp_path / "flux1-dev.safetensors"
    save_file({"double_blocks.0.img_attn.qkv.weight": torch.zeros(1)}, str(path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PixelgifError) as error:
        load_pipeline(str(path), device="cpu")
    message = str(error.value)
    assert "\n" not in message and "network" in message and "not a Stable Diffusion" not in message


def test_morph_command_with_a_flux_model(tiny_flux, tmp_path, capsys):
    out = tmp_path / "dragon.gif"
    code = main(["morph", *PROMPTS, "--model", str(tiny_flux), "--frames", "2", "--steps", "2", "--width", "32",
                 "--height", "32", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    with Image.open(out) as gif:
        assert gif.n_frames == 3
    settings = json.loads(out.with_suffix(".json").read_text())
    assert settings["model"]["model"] == str(tiny_flux) and settings["morph"]["guidance_scale"] == 3.5


def test_model_and_lora_presets_set_their_sampling_defaults(tiny_flux, tiny_sdxl):
    from pixelgif.models.presets import LORA_PRESETS, MODEL_PRESETS

    flux = load_engine(str(tiny_flux), progress=False)
    own = flux.resolve(MorphConfig(prompts=PROMPTS))
    flux = MorphPipeline(backend_of(flux.pipe, [MODEL_PRESETS["flux-schnell"]]), progress=False)
    resolved = flux.resolve(MorphConfig(prompts=PROMPTS))
    assert (resolved.steps, resolved.guidance_scale) == (4, 0.0) != (own.steps, own.guidance_scale)
    xl = load_engine(str(tiny_sdxl), progress=False)
    xl = MorphPipeline(backend_of(xl.pipe, [LORA_PRESETS["hyper-sdxl"]]), progress=False)
    assert xl.backend.scheduler == LORA_PRESETS["hyper-sdxl"].scheduler
    assert xl.pipe.scheduler.config.timestep_spacing == "trailing"
    assert type(xl.pipe.scheduler).__name__ == "DDIMScheduler"
    assert LORA_PRESETS["pixel-art-3.5l"].base_model == MODEL_PRESETS["sd3.5-large"].repo_id
