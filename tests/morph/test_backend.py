"""The backend contract: what `pixelgif.models` tells the engine about each family (real tiny models),
and that the engine reads it from the `Backend`, not from the pipeline."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from pixelgif.models import backend_of, load_backend
from pixelgif.models.presets import LORA_PRESETS, MODEL_PRESETS
from pixelgif.morph.backend import Backend, LibraryMatch, LibrarySprite
from pixelgif.morph.config import MorphConfig
from pixelgif.morph.engine import MorphPipeline

PROMPTS = ["a red apple", "a blue whale"]


@pytest.mark.parametrize(
    ("fixture", "family", "guidance", "flow"),
    [("tiny_sd", "sd", 7.5, False), ("tiny_sdxl", "sdxl", 5.0, False), ("tiny_sd3", "sd3", 7.0, True),
     ("tiny_flux", "flux", 3.5, True)],
)  # fmt: skip
def test_each_family_is_described_once_with_its_own_defaults(fixture, family, guidance, flow, request):
    backend = load_backend(str(request.getfixturevalue(fixture)), device="cpu")
    assert (backend.family, backend.guidance_scale, backend.flow_matching) == (family, guidance, flow)
    assert (backend.steps, backend.batch_size, backend.scheduler) == (25, 4, None)
    assert not backend.pixel_space and not backend.rgba and not backend.binary_alpha
    assert backend.predict_noise is None and backend.library_sprite is None
    assert backend.device.type == "cpu" and backend.denoiser.scale == backend.pipe.vae_scale_factor


def test_the_bundled_model_brings_its_defaults_noise_prediction_and_library():
    backend = load_backend(device="cpu", dtype="float32")
    assert (backend.family, backend.steps, backend.guidance_scale, backend.batch_size) == ("sprite", 6, 7.0, 16)
    assert backend.pixel_space and backend.rgba and backend.binary_alpha and not backend.flow_matching
    assert backend.predict_noise is not None and backend.library_sprite is not None
    hit = backend.library_sprite("a big blue whale", 0)
    assert isinstance(hit, LibrarySprite) and isinstance(hit.match, LibraryMatch)
    assert hit.image.mode == "RGBA" and hit.match.prompt == "a big blue whale"
    assert backend.library_sprite("asdf qwer zxcv", 0) is None


def test_presets_set_the_backends_defaults_not_the_pipelines(tiny_sdxl):
    plain = load_backend(str(tiny_sdxl), device="cpu")
    scheduler = type(plain.pipe.scheduler)
    lcm = backend_of(plain.pipe, [None, LORA_PRESETS["lcm-sdxl"]])
    assert (lcm.steps, lcm.guidance_scale, lcm.scheduler) == (8, 1.5, "LCM")
    assert type(plain.pipe.scheduler) is scheduler and not hasattr(plain.pipe, "default_guidance_scale")
    # A later preset wins where it says something; an earlier one's other settings stay.
    both = backend_of(plain.pipe, [LORA_PRESETS["lcm-sdxl"], MODEL_PRESETS["flux-schnell"]])
    assert (both.steps, both.guidance_scale, both.scheduler) == (4, 0.0, "LCM")
    engine = MorphPipeline(lcm, progress=False)
    assert type(engine.pipe.scheduler).__name__ == "LCMScheduler"
    engine.set_scheduler("DDIM")
    engine.set_scheduler(None)  # the model's own is the preset's
    assert type(engine.pipe.scheduler).__name__ == "LCMScheduler"


def test_the_engine_reads_defaults_and_the_sprite_library_from_the_backend(tiny_sd):
    backend = load_backend(str(tiny_sd), device="cpu")
    drawing = Image.new("RGB", (32, 32), (200, 30, 40))
    match = LibraryMatch("a red square", "a square", "sq", 0.9, 0, 1, None)
    found: list[tuple[str, int]] = []

    def library_sprite(prompt: str, seed: int) -> LibrarySprite | None:
        found.append((prompt, seed))
        return LibrarySprite(drawing, match) if prompt == "a red square" else None

    custom = dataclasses.replace(backend, steps=3, guidance_scale=2.0, batch_size=2, library_sprite=library_sprite)
    engine = MorphPipeline(custom, progress=False)
    resolved = engine.resolve(MorphConfig(prompts=PROMPTS))
    assert (resolved.steps, resolved.guidance_scale, resolved.batch_size) == (3, 2.0, 2)
    config = MorphConfig(prompts=["a red square", "a blue whale"], frames=2, width=32, height=32, spacing="linear",
                         seed=4)  # fmt: skip
    result = engine(config)
    assert found == [("a red square", 4), ("a blue whale", 5)]
    assert result.library == {0: match} and np.array_equal(np.asarray(result.frames[0]), np.asarray(drawing))
    assert MorphPipeline(backend, progress=False)(config).library == {}  # the tiny model has no library


def test_the_engine_takes_a_backend_and_the_backend_checks_itself(tiny_sd):
    backend = load_backend(str(tiny_sd), device="cpu")
    with pytest.raises(TypeError, match="backend_of"):
        MorphPipeline(backend.pipe)
    with pytest.raises(ValueError, match="scheduler"):
        dataclasses.replace(backend, scheduler="no-such-sampler")
    with pytest.raises(ValueError, match="pixel space"):
        dataclasses.replace(backend, rgba=True)
    with pytest.raises(ValueError, match="steps"):
        Backend(backend.pipe, "sd", backend.denoiser, backend.device, steps=0)


def test_a_runs_presets_are_its_models_then_its_loras():
    from pixelgif.models.loading import presets_of

    assert presets_of("sd-turbo") == [MODEL_PRESETS["sd-turbo"]] and presets_of("./my-folder") == [None]
    loras = ["lcm-sdxl", "pixel-art-xl:1.2"]
    assert presets_of(None, loras) == [None, LORA_PRESETS["lcm-sdxl"], LORA_PRESETS["pixel-art-xl"]]
