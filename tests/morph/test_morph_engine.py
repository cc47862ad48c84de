"""The morph engine's Python API over a real (tiny) Stable Diffusion pipeline loaded from disk."""

import numpy as np
import pytest
import torch

from pixelgif.models import backend_of
from pixelgif.morph.config import SCHEDULERS
from pixelgif.morph.engine import MorphConfig, MorphPipeline, MorphResult
from pixelgif.morph.schedule import frame_schedule
from pixelgif.pixelate import PixelateConfig
from pixelgif.run import load_engine

PROMPTS = ["a red dragon", "a blue whale", "a green frog"]


@pytest.fixture(scope="module")
def engine(tiny_sd):
    return load_engine(str(tiny_sd), progress=False)


def _config(**kwargs):
    return MorphConfig(**{"prompts": PROMPTS, "frames": 3, "steps": 2, **kwargs})


def _arrays(images):
    return [np.asarray(image) for image in images]


def test_morph_result(engine):
    result = engine(_config(loop=True))
    assert isinstance(result, MorphResult)
    assert len(result.frames) == len(result.pixel_frames) == 9
    assert result.keyframe_indices == [0, 3, 6]
    assert result.frames[0].size == (32, 32) and result.frames[0].mode == "RGB"
    assert all(image.mode == "P" for image in result.pixel_frames)
    assert result.palette.ndim == 2 and result.palette.shape[1] == 3
    # One shared palette, and auto pixel size keeps 32 art pixels for a 32 px render.
    assert len({bytes(image.getpalette()) for image in result.pixel_frames}) == 1
    assert result.size == (32, 32) and result.pixelate_config.pixel_size == 1
    assert {"encode", "render", "pixelate", "total"} <= set(result.timings)
    resolved = result.settings["morph"]
    assert resolved["seeds"] == [0, 1, 2] and resolved["width"] == 32 and resolved["guidance_scale"] == 7.5


def test_same_settings_same_frames(engine):
    first, second = engine(_config()), engine(_config())
    assert all(np.array_equal(a, b) for a, b in zip(_arrays(first.frames), _arrays(second.frames), strict=True))


def test_seed_changes_frames(engine):
    base, other = engine(_config()), engine(_config(seed=5))
    assert not np.array_equal(_arrays(base.frames)[0], _arrays(other.frames)[0])


def test_keyframes_and_joins_use_one_latent_and_embedding_each(engine):
    conditionings = engine.encode_prompts(PROMPTS, "blurry", 7.5)
    assert set(conditionings[0]) == {"prompt_embeds", "negative_prompt_embeds"}
    latents = engine.prepare_keyframe_latents([0, 1, 2], 32, 32)
    assert latents[0].shape == (1, 4, 16, 16)
    plan = frame_schedule(3, 4, loop=True)
    inputs = engine.interpolate_frames(plan, conditionings, latents, "slerp")
    for index, keyframe in ((0, 0), (4, 1), (8, 2)):
        assert torch.equal(inputs[index].latents, latents[keyframe])
        for name, tensor in conditionings[keyframe].items():
            assert torch.equal(inputs[index].conditioning[name], tensor)
    # Frames either side of a join are close to the shared keyframe (no jump in the noise).
    step = (inputs[4].latents - inputs[3].latents).norm()
    assert step < 1.5 * (inputs[5].latents - inputs[4].latents).norm()


def test_keyframe_noise_is_cpu_seeded(engine):
    first = engine.prepare_keyframe_latents([7], 32, 32)[0]
    expected = torch.randn((1, 4, 16, 16), generator=torch.Generator("cpu").manual_seed(7))
    assert torch.equal(first, expected)


def test_no_guidance_skips_negative_embeddings(engine):
    conditionings = engine.encode_prompts(PROMPTS[:2], None, 1.0)
    assert len(conditionings) == 2 and all(set(c) == {"prompt_embeds"} for c in conditionings)
    result = engine(_config(prompts=PROMPTS[:2], guidance_scale=1.0, frames=2))
    assert len(result.frames) == 3


def test_options_change_frames(engine):
    base = _arrays(engine(_config()).frames)
    for options in ({"text_interpolation": "slerp"}, {"easing": "ease-in-out"}, {"negative_prompt": "blurry"}):
        frames = _arrays(engine(_config(**options)).frames)
        assert np.array_equal(frames[0], base[0]) or "negative_prompt" in options  # keyframes stay
        assert not all(np.array_equal(a, b) for a, b in zip(frames, base, strict=True)), options


def test_batch_size_and_size(engine):
    result = engine(_config(prompts=PROMPTS[:2], frames=2, batch_size=1, width=48, height=40))
    assert result.frames[0].size == (48, 40)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_renders(engine, name):
    if name == "LMS":
        pytest.importorskip("scipy")
    config = _config(prompts=PROMPTS[:2], frames=2, scheduler=name)
    first = engine(config, PixelateConfig(pixel_size=4))
    assert type(engine.pipe.scheduler).__name__ == SCHEDULERS[name][0]
    second = engine(config, PixelateConfig(pixel_size=4))  # stochastic ones too: seeded per frame
    assert all(np.array_equal(a, b) for a, b in zip(_arrays(first.frames), _arrays(second.frames), strict=True))


def test_default_scheduler_is_restored(engine):
    engine(_config(prompts=PROMPTS[:2], frames=2, scheduler="Euler"))
    engine(_config(prompts=PROMPTS[:2], frames=2))
    assert type(engine.pipe.scheduler).__name__ == "DDIMScheduler"


def test_sizes_the_model_cannot_render_are_rejected(engine):
    with pytest.raises(ValueError, match="multiples of 2"):
        engine.prepare_keyframe_latents([0], 33, 32)
    with pytest.raises(ValueError, match="at least 4"):
        engine.prepare_keyframe_latents([0], 2, 32)


def test_rgba_backend(tiny_sd):
    """The engine does not care which pipeline it drives: here the bundled sprite pipeline (RGBA, no VAE)."""
    bundled = pytest.importorskip("pixelgif.models.bundled.pipeline")
    from diffusers import DPMSolverMultistepScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=8, attention_head_dim=4,
    )  # fmt: skip
    pipe = bundled.PixelSpritePipeline(
        unet=unet, text_encoder=CLIPTextModel.from_pretrained(tiny_sd / "text_encoder"),
        tokenizer=CLIPTokenizer.from_pretrained(tiny_sd / "tokenizer"), scheduler=DPMSolverMultistepScheduler(),
    )  # fmt: skip
    engine = MorphPipeline(backend_of(pipe), progress=False)
    assert engine.default_size() == (16, 16)
    result = engine(MorphConfig(prompts=PROMPTS[:2], frames=2, steps=2, loop=True))
    assert len(result.frames) == 4
    assert result.frames[0].mode == "RGBA" and result.frames[0].size == (16, 16)
    assert result.settings["morph"]["steps"] == 2


def test_keyframes_alone_match_the_morphs_keyframes(engine):
    config = _config(seeds=[4, 9, 2], batch_size=1)
    morph, keys = engine(config), engine.keyframes(config)
    assert len(keys.frames) == 3 and keys.keyframe_indices == [0, 1, 2]
    for key, index in zip(_arrays(keys.frames), morph.keyframe_indices, strict=True):
        assert np.abs(key.astype(int) - _arrays(morph.frames)[index].astype(int)).max() <= 1
    assert keys.config.seeds == [4, 9, 2] and len({bytes(i.getpalette()) for i in keys.pixel_frames}) == 1


def test_callback_reports_frames_and_can_stop_the_render(engine):
    seen = []
    engine(_config(frames=2, batch_size=2, spacing="linear"), callback=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (5, 5) and all(total == 5 for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen) and len(seen) == 3 * 2  # 3 batches x 2 steps

    class Stop(Exception):
        pass

    def stop(done, total):
        seen.append(done)
        raise Stop

    seen.clear()
    with pytest.raises(Stop):
        engine(_config(), callback=stop)
    assert len(seen) == 1  # stopped at the first step, nothing more rendered
