"""Image keyframes through the engine, on the bundled sprite model and the tiny Stable Diffusion:
inversion round trip, keyframes pixel-exact, mixed image + prompt chains with loop, determinism, --from."""

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelgif.cli import main
from pixelgif.models import backend_of
from pixelgif.morph.engine import FrameInputs, MorphConfig, MorphPipeline
from pixelgif.morph.keyframes import Keyframe
from pixelgif.run import load_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from make_image_keyframe_example import butterfly, caterpillar

# Round trip of the bundled model (float32, 12 DDIM steps, 2 Anderson-mixed fixed-point refinements):
# invert a sprite, render it again from that noise; mean absolute error on the [-1, 1] RGBA scale.
# Measured 0.008 and 0.014 for the two sprites (plain DDIM inversion without refinement: 0.15).
BUNDLED_ROUND_TRIP = 0.02
# At the default 6 steps: measured 0.032 and 0.037 (about 4 levels of 255; 0.049 and 0.039 before
# warm-started refinement); the keyframe itself is pasted back exactly.
BUNDLED_ROUND_TRIP_DEFAULT_STEPS = 0.05


def same_pixels(a, b) -> bool:
    """Return True when two images show the same: equal alpha, equal colour wherever visible."""
    a, b = np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA"))
    visible = a[..., 3] > 0
    return np.array_equal(a[..., 3], b[..., 3]) and np.array_equal(a[visible, :3], b[visible, :3])


@pytest.fixture(scope="module")
def bundled():
    from pixelgif.models.bundled import load_bundled_pipeline

    return MorphPipeline(backend_of(load_bundled_pipeline()), progress=False)


@pytest.fixture(scope="module")
def sd(tiny_sd):
    return load_engine(str(tiny_sd), progress=False)


@pytest.mark.parametrize(("steps", "bound"), [(None, BUNDLED_ROUND_TRIP_DEFAULT_STEPS), (12, BUNDLED_ROUND_TRIP)])
def test_bundled_inversion_round_trip(bundled, steps, bound):
    from pixelgif.models.bundled.pipeline import PixelSpritePipeline

    keyframes = [Keyframe(image=caterpillar()), Keyframe(image=butterfly(), caption="a butterfly")]
    # Without shape starts the in-betweens start from the keyframes' noise: it must invert exactly.
    keys = bundled.prepare_keyframes(MorphConfig(prompts=keyframes, steps=steps, shapes=0))
    assert keys.config.scheduler == "DDIM-exact"
    assert keys.config.steps == (steps or PixelSpritePipeline.default_num_inference_steps)
    frames = bundled.render([FrameInputs(keys.latents[i], keys.conditionings[i]) for i in (0, 1)], keys.config)
    targets = bundled.encode_images([keys.images[0], keys.images[1]])
    for frame, target in zip(frames, targets, strict=True):
        again = torch.from_numpy(np.asarray(frame, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)
        assert (again - target).abs().mean() < bound
        assert ((again[3] > 0) == (target[3] > 0)).float().mean() > 0.99  # the silhouette comes back


def test_bundled_inversion_starts_each_step_from_the_last_prediction(bundled):
    from pixelgif.morph.images import INVERSION_REFINE

    steps = []
    bundled.__dict__.pop("_inversions", None)  # other tests' inversions of these sprites are remembered
    keyframes = [Keyframe(image=caterpillar()), Keyframe(image=butterfly(), caption="a butterfly")]
    keys = bundled.prepare_keyframes(MorphConfig(prompts=keyframes, shapes=0), on_step=lambda: steps.append(1))
    assert keys.config.steps == 6
    # 6 sampling steps: the nearly noiseless one unrefined (1 call), five refined from the step
    # before's last prediction (no call at their start), one round more after the unrefined step
    # and at the noisiest step: 1 + 3 + 2 + 2 + 2 + 3.
    assert INVERSION_REFINE == 2
    assert len(steps) == 1 + (INVERSION_REFINE + 1) + 3 * INVERSION_REFINE + (INVERSION_REFINE + 1) == 13


def test_noise_that_only_starts_moved_drawings_skips_the_noisiest_refinement(bundled):
    """Between two drawings every in-between starts from their moved pixels: the keyframes' noise is
    never sampled back into them from the noisiest step, so that step takes one call, unrefined."""
    bundled.__dict__.pop("_inversions", None)
    keyframes = [Keyframe(image=caterpillar()), Keyframe(image=butterfly(), caption="a butterfly")]
    calls: list[int] = []
    started = bundled.prepare_keyframes(MorphConfig(prompts=keyframes), on_step=lambda: calls.append(1))
    assert len(calls) == 1 + 3 + 2 + 2 + 2 + 1 == 11
    assert set(started.transports) == {(0, 1)} and started.transports[0, 1] is not None
    exact = bundled.prepare_keyframes(MorphConfig(prompts=keyframes, shapes=0))
    assert not exact.transports
    # Another inversion (remembered apart), the same up to the noisiest step's refinement.
    assert not torch.equal(started.latents[0], exact.latents[0])
    assert (started.latents[0] - exact.latents[0]).abs().mean() < 0.2
    # A keyframe next to one the model draws from noise starts frames from its noise: it inverts exactly.
    chain = [keyframes[0], keyframes[1], "a red apple"]
    calls.clear()
    bundled.__dict__.pop("_inversions", None)
    config = MorphConfig(prompts=chain, keyframe_colours=False, library=False, shapes_for_renders=False)
    mixed = bundled.prepare_keyframes(config, on_step=lambda: calls.append(1))
    assert set(mixed.transports) == {(0, 1)}
    assert len(calls) == 11 + 13  # the caterpillar as before, the butterfly exactly
    assert torch.equal(mixed.latents[0], started.latents[0])
    assert torch.equal(mixed.latents[1], exact.latents[1])


def test_bundled_mixed_chain_with_loop_keeps_keyframes_exactly(bundled):
    small = caterpillar().resize((16, 16), Image.Resampling.NEAREST)  # scaled x2 with nearest neighbour
    config = MorphConfig(
        prompts=[Keyframe(image=small), "a red apple", Keyframe(image=butterfly(), caption="a butterfly")],
        frames=3, loop=True, steps=4, spacing="linear",
    )  # fmt: skip
    result = bundled(config)
    assert len(result.pixel_frames) == 9 and result.keyframe_indices == [0, 3, 6]
    # The input art itself, pixel for pixel: both sprites are pixel art on their own few colours.
    assert same_pixels(result.pixel_frames[0], small.resize((32, 32), Image.Resampling.NEAREST))
    assert same_pixels(result.pixel_frames[6], butterfly())
    assert same_pixels(result.frames[6], butterfly())  # the raw frame is the image, not a render of it
    assert not same_pixels(result.pixel_frames[1], result.pixel_frames[0])  # in-betweens are rendered
    again = bundled(config)
    assert all(same_pixels(a, b) for a, b in zip(result.pixel_frames, again.pixel_frames, strict=True))
    assert result.config.to_dict()["prompts"][1] == "a red apple"


def test_bundled_even_spacing_between_two_sprites(bundled):
    result = bundled(MorphConfig(prompts=[caterpillar(), butterfly()], frames=3, steps=4))
    assert result.keyframe_indices == [0, 3]
    assert same_pixels(result.pixel_frames[0], caterpillar()) and same_pixels(result.pixel_frames[3], butterfly())


@pytest.mark.parametrize("family", ["sd", "sdxl"])
def test_inversion_is_exact_where_ddim_is_invertible(family, request):
    """With a UNet whose noise prediction does not depend on its input, DDIM inversion is exact:
    this checks the timesteps, alphas, VAE scaling and guidance of the inversion, to float precision."""
    model = request.getfixturevalue(family)
    pipe = copy.copy(model.pipe)
    pipe.unet = copy.deepcopy(model.pipe.unet)
    with torch.no_grad():
        pipe.unet.conv_out.weight.zero_()
        pipe.unet.conv_out.bias.copy_(torch.tensor([0.5, -0.3, 0.2, 0.1]))
    engine = MorphPipeline(backend_of(pipe), progress=False)
    config = MorphConfig(prompts=[Keyframe(image=caterpillar(), caption="a caterpillar"), "a blue whale"], steps=5)
    keys = engine.prepare_keyframes(config)
    # Guidance is neutral at the image: each negative tensor is its caption's (SDXL's pooled one too).
    cond = keys.conditionings[0]
    names = {"prompt_embeds"} | ({"pooled_prompt_embeds"} if family == "sdxl" else set())
    assert set(cond) == names | {f"negative_{name}" for name in names}
    assert all(torch.equal(cond[f"negative_{name}"], cond[name]) for name in names)
    regenerated = engine.pipe(
        **cond, latents=keys.latents[0], num_inference_steps=5, guidance_scale=keys.config.guidance_scale,
        output_type="latent",
    ).images  # fmt: skip
    clean = engine.encode_images([keys.images[0]])
    assert (regenerated.float() - clean).abs().max() < 1e-4


def test_sd_mixed_chain_with_loop_composites_on_white_and_keeps_keyframes(sd):
    config = MorphConfig(prompts=["a red dragon", caterpillar()], frames=2, loop=True, steps=2, spacing="linear")
    result = sd(config)
    assert len(result.pixel_frames) == 4 and result.keyframe_indices == [0, 2]
    on_white = Image.alpha_composite(Image.new("RGBA", (32, 32), "white"), caterpillar()).convert("RGB")
    assert result.frames[2].mode == "RGB" and np.array_equal(np.asarray(result.frames[2]), np.asarray(on_white))
    assert np.array_equal(np.asarray(result.pixel_frames[2].convert("RGB")), np.asarray(on_white))
    again = sd(config)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(result.frames, again.frames, strict=True))
    keys = sd.keyframes(config)
    assert np.array_equal(np.asarray(keys.pixel_frames[1].convert("RGB")), np.asarray(on_white))


def test_cli_image_keyframes_and_from(tiny_sd, tmp_path, capsys):
    caterpillar().save(tmp_path / "cat.png")
    out = tmp_path / "m.gif"
    args = ["--model", tiny_sd, "--steps", "2", "--frames", "2", "--spacing", "linear", "--quiet"]
    code = main(
        [
            "morph",
            str(tmp_path / "cat.png"),
            "a blue whale",
            "--caption",
            "a caterpillar",
            *map(str, args),
            "-o",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "m.json").read_text())["morph"]
    assert (
        record["prompts"][0]["image"] == str(tmp_path / "cat.png")
        and record["prompts"][0]["caption"] == "a caterpillar"
    )
    assert record["scheduler"] == "DDIM-exact"
    assert main(["morph", "--from", str(tmp_path / "m.json"), "-o", str(tmp_path / "again.gif")]) == 0
    assert (tmp_path / "again.gif").read_bytes() == out.read_bytes()
    butterfly().save(tmp_path / "cat.png")
    capsys.readouterr()
    assert main(["morph", "--from", str(tmp_path / "m.json"), "-o", str(tmp_path / "third.gif")]) == 1
    assert "has changed since the settings file was written" in capsys.readouterr().err
    assert not (tmp_path / "third.gif").exists()


def test_precomputed_inversions_skip_the_inversion(sd, monkeypatch):
    config = MorphConfig(prompts=[caterpillar(), "a blue whale"], steps=2, frames=2, spacing="linear")
    first = sd.prepare_keyframes(config)
    monkeypatch.setattr(sd, "invert_images", lambda *args, **kwargs: pytest.fail("inverted again"))
    again = sd.prepare_keyframes(config, inverted={0: first.latents[0]})
    assert torch.equal(again.latents[0], first.latents[0]) and torch.equal(again.latents[1], first.latents[1])


@pytest.fixture(scope="module")
def sdxl(tiny_sdxl):
    return load_engine(str(tiny_sdxl), progress=False)


def test_sdxl_noise_prediction_has_the_pipelines_pooled_and_size_conditioning(sdxl):
    """The inversion's UNet call gets the pooled text and size ids that SDXL's own pipeline gives it."""
    (cond,) = sdxl.encode_prompts(["a caterpillar"], None, 1.0)
    sample, t = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0)), 500
    pipe = sdxl.pipe
    time_ids = pipe._get_add_time_ids((32, 32), (0, 0), (32, 32), torch.float32,
                                      pipe.text_encoder_2.config.projection_dim)  # fmt: skip
    expected = pipe.unet(sample, t, encoder_hidden_states=cond["prompt_embeds"],
                         added_cond_kwargs={"text_embeds": cond["pooled_prompt_embeds"], "time_ids": time_ids}).sample  # fmt: skip
    assert torch.equal(sdxl._predict_noise(sample, t, cond), expected)
    other = dict(cond, pooled_prompt_embeds=cond["pooled_prompt_embeds"] + 1)
    assert not torch.equal(sdxl._predict_noise(sample, t, other), expected)  # the pooled text counts


def test_sdxl_image_and_prompt_chain_keeps_the_image_keyframe(sdxl):
    config = MorphConfig(
        prompts=[caterpillar(), "a blue whale"], frames=2, steps=2, spacing="linear", midway_guidance=0.5
    )
    result = sdxl(config)
    assert len(result.frames) == 3 and result.keyframe_indices == [0, 2]
    on_white = Image.alpha_composite(Image.new("RGBA", (32, 32), "white"), caterpillar()).convert("RGB")
    assert np.array_equal(np.asarray(result.pixel_frames[0].convert("RGB")), np.asarray(on_white))
    assert not np.array_equal(np.asarray(result.frames[1]), np.asarray(result.frames[2]))


def test_an_engine_remembers_inversions_and_gives_the_same_noise(bundled, monkeypatch):
    keyframes = [Keyframe(image=caterpillar()), Keyframe(image=butterfly(), caption="a butterfly")]
    config = MorphConfig(prompts=keyframes, steps=3)
    first = bundled.prepare_keyframes(config)
    inverted = [first.latents[0].clone(), first.latents[1].clone()]
    first.latents[0].zero_()  # the caller's copy: the engine keeps its own
    calls = []
    monkeypatch.setattr(
        bundled, "_invert", lambda *args, **options: calls.append(args) or pytest.fail("inverted again")
    )
    again = bundled.prepare_keyframes(config, on_step=lambda: calls.append("step"))
    assert calls == ["step"]  # no model evaluation, but a cancel is still heard
    assert torch.equal(again.latents[0], inverted[0]) and torch.equal(again.latents[1], inverted[1])
    monkeypatch.undo()
    # Remembered noise is what inverting again gives, to the bit.
    fresh = MorphPipeline(bundled.backend, progress=False).prepare_keyframes(config)
    assert torch.equal(fresh.latents[0], inverted[0]) and torch.equal(fresh.latents[1], inverted[1])
    # Another caption, step count or image is another inversion.
    changed = [
        MorphConfig(prompts=[keyframes[0], Keyframe(image=butterfly(), caption="a moth")], steps=3),
        MorphConfig(prompts=keyframes, steps=4),
        MorphConfig(prompts=[Keyframe(image=caterpillar().rotate(90)), keyframes[1]], steps=3),
    ]
    for other in changed:
        keys = bundled.prepare_keyframes(other)
        assert not torch.equal(keys.latents[0], inverted[0]) or not torch.equal(keys.latents[1], inverted[1])


def test_an_engine_of_another_process_reads_inversions_from_the_store(bundled, monkeypatch, tmp_path):
    """A batch's workers share their keyframe inversions through files (`inversion_store`)."""
    keyframes = [Keyframe(image=caterpillar(), caption="a caterpillar"), Keyframe(image=butterfly())]
    config = MorphConfig(prompts=keyframes, steps=3, seed=9)
    writer = MorphPipeline(bundled.backend, progress=False)
    writer.inversion_store = tmp_path / "store"
    written = writer.prepare_keyframes(config)
    assert len(list((tmp_path / "store").glob("*.npy"))) == 2 and not list((tmp_path / "store").glob(".*"))
    reader = MorphPipeline(bundled.backend, progress=False)  # nothing remembered: another worker
    reader.inversion_store = tmp_path / "store"
    monkeypatch.setattr(reader, "_invert", lambda *args, **options: pytest.fail("inverted again"))
    read = reader.prepare_keyframes(config)
    assert all(torch.equal(a, b) for a, b in zip(read.latents, written.latents, strict=True))
    monkeypatch.undo()
    # A folder that cannot take files: the engine inverts and remembers as without one.
    blocked = MorphPipeline(bundled.backend, progress=False)
    blocked.inversion_store = tmp_path / "a-file"
    blocked.inversion_store.write_text("not a folder")
    assert all(
        torch.equal(a, b) for a, b in zip(blocked.prepare_keyframes(config).latents, written.latents, strict=True)
    )
    # A damaged file is inverted again, to the same bits.
    for path in (tmp_path / "store").glob("*.npy"):
        path.write_bytes(b"half a file")
    again = MorphPipeline(bundled.backend, progress=False)
    again.inversion_store = tmp_path / "store"
    assert all(torch.equal(a, b) for a, b in zip(again.prepare_keyframes(config).latents, written.latents, strict=True))


def test_a_keyframe_met_again_in_another_pair_is_not_inverted_again(bundled, monkeypatch):
    """On ONNX Runtime each sample's prediction does not depend on its batch, so inversions are
    remembered one image at a time: a batch of jobs reusing a keyframe inverts it once, to the bit."""
    assert bundled.backend.batch_invariant is not None and bundled.backend.batch_invariant(32, 32)
    moth = Keyframe(image=butterfly().rotate(180), caption="a moth")
    first = [Keyframe(image=caterpillar()), Keyframe(image=butterfly(), caption="a butterfly")]
    second = [first[1], moth]  # the butterfly again, with a new partner
    bundled.prepare_keyframes(MorphConfig(prompts=first, steps=3, seed=5))
    inverted: list[int] = []
    real = bundled._invert
    monkeypatch.setattr(
        bundled,
        "_invert",
        lambda images, *rest, **options: inverted.append(len(images)) or real(images, *rest, **options),
    )
    again = bundled.prepare_keyframes(MorphConfig(prompts=second, steps=3, seed=5))
    assert inverted == [1]  # only the moth
    monkeypatch.undo()
    fresh = MorphPipeline(bundled.backend, progress=False).prepare_keyframes(
        MorphConfig(prompts=second, steps=3, seed=5)
    )
    assert torch.equal(again.latents[0], fresh.latents[0]) and torch.equal(again.latents[1], fresh.latents[1])


def test_a_keyframes_preview_inverts_nothing(bundled, monkeypatch):
    """A preview shows only the keyframes: the drawings need no noise, so nothing is inverted."""
    keyframes = [Keyframe(image=caterpillar()), Keyframe(image=butterfly(), caption="a butterfly"), "a red dragon"]
    config = MorphConfig(prompts=keyframes, steps=3, seed=2)
    bundled.__dict__.pop("_inversions", None)
    monkeypatch.setattr(bundled, "_invert", lambda *args, **options: pytest.fail("inverted for a preview"))
    preview = bundled.keyframes(config)
    monkeypatch.undo()
    full = bundled(config)
    assert len(preview.frames) == 3
    for frame, index in zip(preview.frames, full.keyframe_indices, strict=True):
        assert np.array_equal(np.asarray(frame), np.asarray(full.frames[index]))
