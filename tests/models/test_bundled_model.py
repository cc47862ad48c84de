"""The bundled sprite model: loads offline from the package, deterministic, follows its prompt."""

import os

import numpy as np
import pytest
import torch

from pixelgif.models.bundled import WEIGHTS_DIR, bundled_model_available, load_bundled_pipeline


@pytest.fixture(scope="module")
def pipe():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    return load_bundled_pipeline()


def _noise(seed):
    return torch.randn((1, 4, 32, 32), generator=torch.Generator().manual_seed(seed))


def test_weights_ship_as_small_fp16_safetensors():
    assert bundled_model_available()
    weights = WEIGHTS_DIR / "unet" / "diffusion_pytorch_model.safetensors"
    assert weights.stat().st_size < 15 * 2**20
    from safetensors import safe_open

    with safe_open(weights, "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118 (safe_open is not iterable)


def test_renders_rgba_sprites_deterministically(pipe):
    first = pipe("a red apple", latents=_noise(3), num_inference_steps=4).images
    second = pipe("a red apple", latents=_noise(3), num_inference_steps=4).images
    assert first.shape == (1, 32, 32, 4)
    assert first.min() >= 0.0 and first.max() <= 1.0
    assert np.array_equal(first, second)


def test_prompt_and_seed_change_the_sprite(pipe):
    apple = pipe("a red apple", latents=_noise(3), num_inference_steps=4).images
    whale = pipe("a blue whale", latents=_noise(3), num_inference_steps=4).images
    other_seed = pipe("a red apple", latents=_noise(4), num_inference_steps=4).images
    assert np.abs(apple - whale).mean() > 0.01
    assert np.abs(apple - other_seed).mean() > 0.01


def test_precomputed_embeddings_skip_the_text_stage(pipe):
    embeds, negative = pipe.encode_prompt(["a red apple"], "cpu", 1, True, None)
    assert embeds.shape[0] == 1 and embeds.shape[2] == 384
    direct = pipe("a red apple", latents=_noise(1), num_inference_steps=3).images
    via_embeds = pipe(
        prompt_embeds=embeds, negative_prompt_embeds=negative, latents=_noise(1), num_inference_steps=3
    ).images
    assert np.array_equal(direct, via_embeds)


def test_text_embeddings_are_remembered_while_the_encoder_is_frozen():
    pipe = load_bundled_pipeline()  # its own: this test unfreezes the encoder
    forwards = []
    pipe.text_encoder.register_forward_hook(lambda *args: forwards.append(1))
    first = pipe.encode_prompt(["a red apple", "a tree"], "cpu", 1, True, None)
    assert len(forwards) == 2  # the prompts, then the empty negative text
    first[0].zero_()  # the caller's copy: the pipeline keeps its own
    again = pipe.encode_prompt(["a red apple", "a tree"], "cpu", 1, True, None)
    assert len(forwards) == 2
    fresh = load_bundled_pipeline().encode_prompt(["a red apple", "a tree"], "cpu", 1, True, None)
    assert torch.equal(again[0], fresh[0]) and torch.equal(again[1], fresh[1])  # to the bit
    pipe.encode_prompt(["a tree", "a red apple"], "cpu", 1, False, None)  # another batch: computed
    assert len(forwards) == 3
    assert pipe.library_sprite("a red apple", 0) is not None
    seen = len(forwards)
    assert pipe.library_sprite("a red apple", 0) is not None
    assert len(forwards) == seen  # the library's sentence embeddings too
    pipe.text_encoder.requires_grad_(True)  # being trained: nothing is remembered
    pipe.encode_prompt(["a red apple", "a tree"], "cpu", 1, False, None)
    assert len(forwards) == seen + 1


def test_morph_endpoints_equal_single_prompt_renders(pipe):
    from pixelgif.models import backend_of
    from pixelgif.morph.engine import MorphConfig, MorphPipeline, to_pil

    engine = MorphPipeline(backend_of(pipe), progress=False)
    config = MorphConfig(prompts=["a red apple", "a blue whale"], frames=3, steps=4, seed=7, batch_size=1,
                         library=False)  # the model draws the keyframes  # fmt: skip
    # The pipeline's own sampler (a morph leaves the image sampler set: its in-betweens take it).
    singles = [to_pil(pipe(prompt, latents=_noise(seed), num_inference_steps=4).images)[0]
               for prompt, seed in (("a red apple", 7), ("a blue whale", 8))]  # fmt: skip
    result = engine(config)
    assert len(result.frames) == 4 and result.frames[0].mode == "RGBA"
    for frame, single in zip((result.frames[0], result.frames[-1]), singles, strict=True):
        assert np.array_equal(np.asarray(frame), np.asarray(single))
    # In-between frames differ from both ends: it is a morph, not a cut.
    middle = np.asarray(result.frames[1], dtype=float)
    assert np.abs(middle - np.asarray(result.frames[0], dtype=float)).mean() > 0.5
    assert np.abs(middle - np.asarray(result.frames[-1], dtype=float)).mean() > 0.5
    # One palette shared by every pixel-art frame, transparency reserved.
    assert result.transparent_index is not None
    palettes = {bytes(f.getpalette()) for f in result.pixel_frames}
    assert len(palettes) == 1


def test_bfloat16_unet_keeps_a_float32_sampler_and_is_deterministic():
    pipe = load_bundled_pipeline(dtype=torch.bfloat16)
    assert pipe.unet.dtype == torch.bfloat16 and pipe.text_encoder.dtype == torch.float32  # text stays exact on CPU
    latents = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    first = pipe(prompt=["a red apple", "a blue whale"], num_inference_steps=3, latents=latents).images
    again = pipe(prompt=["a red apple", "a blue whale"], num_inference_steps=3, latents=latents).images
    assert first.dtype == np.float32 and first.shape == (2, 32, 32, 4) and first.min() >= 0 and first.max() <= 1
    assert np.array_equal(first, again)
    full = load_bundled_pipeline()(
        prompt=["a red apple", "a blue whale"], num_inference_steps=3, latents=latents
    ).images
    assert np.abs(first - full).mean() < 0.1  # the same picture, to bfloat16's precision
