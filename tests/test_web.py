"""Web UI: form defaults from the configs, form parsing, one Generate with a fake engine, the app."""

from __future__ import annotations

import dataclasses
import json
import sys
from types import SimpleNamespace

import pytest
from PIL import Image

from pixelgif.cli import main
from pixelgif.encode import EncodeConfig
from pixelgif.errors import PixelgifError
from pixelgif.morph_config import MorphConfig
from pixelgif.pixelate import PixelateConfig
from pixelgif.web import INSTALL_HINT, require_gradio
from pixelgif.web.form import EngineCache, defaults, generate, parse_form

PROMPTS = "a red dragon\na blue whale\n\n"


def form(**changes):
    values = defaults()
    values["prompts"] = PROMPTS
    values.update(changes)
    return values


class FakeEngine:
    """Stands in for MorphPipeline: 4x4 palette frames, rendered at 32x32."""

    def __init__(self, **model):
        self.model = model
        self.calls = 0

    def __call__(self, config, pixelate=None):
        self.calls += 1
        pixelate = pixelate or PixelateConfig()
        frames = []
        for i in range(config.num_frames):
            image = Image.frombytes("P", (4, 4), bytes((i + j) % 3 for j in range(16)))
            image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
            frames.append(image)
        raw = [Image.new("RGB", (32, 32)) for _ in frames]
        return SimpleNamespace(frames=raw, pixel_frames=frames, keyframe_indices=[0, len(frames) - 1],
                               size=(4, 4), config=config, pixelate_config=pixelate)  # fmt: skip


def fake_cache():
    loads = []

    def factory(**model):
        loads.append(model)
        return FakeEngine(**model)

    return EngineCache(factory), loads


def test_defaults_come_from_the_config_dataclasses():
    values = defaults()
    morph = MorphConfig(prompts=["a", "b"])
    assert values["frames"] == morph.frames and values["seed"] == morph.seed and values["loop"] == morph.loop
    assert values["dither"] == PixelateConfig().dither and values["colors"] == PixelateConfig().colors
    assert values["duration"] == EncodeConfig().duration and values["hold"] == EncodeConfig().hold


def test_default_form_gives_default_configs():
    request = parse_form(form())
    assert request.morph == MorphConfig(prompts=["a red dragon", "a blue whale"])
    assert request.pixelate == PixelateConfig()
    assert request.encode == EncodeConfig(format="gif")
    assert request.model == {"model": "bundled", "lora": None, "lora_scale": 1.0}
    assert request.auto_scale and request.suffix == ".gif"


def test_form_values_reach_the_configs():
    request = parse_form(form(seed=7.0, frames=5, loop=True, grid="48x32", colors=8, palette="pico-8",
                              dither="none", steps="", guidance_scale=0, scale="3", format="webp",
                              lora="pixelart", lora_scale=0.5))  # fmt: skip
    assert (request.morph.seed, request.morph.frames, request.morph.loop) == (7, 5, True)
    assert request.morph.steps is None and request.morph.guidance_scale == 0.0
    assert request.pixelate.grid == (48, 32) and request.pixelate.colors == 8
    assert request.pixelate.palette == "pico-8" and request.pixelate.dither == "none"
    assert request.encode.scale == 3 and not request.auto_scale and request.suffix == ".webp"
    assert request.model["lora"] == "pixelart" and request.model["lora_scale"] == 0.5


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"prompts": "only one"}, "at least two prompts"),
        ({"grid": "big"}, "grid"),
        ({"colors": 1}, "colo"),
        ({"frames": 2.5}, "whole number"),
        ({"duration": 0}, "duration"),
        ({"palette": "no-such-palette"}, "palette"),
    ],
)
def test_bad_form_values_are_one_line_errors(changes, match):
    with pytest.raises(ValueError, match=match):
        parse_form(form(**changes))


def test_generate_writes_the_animation_and_settings(tmp_path):
    engines, loads = fake_cache()
    result = generate(parse_form(form(frames=3, hold=200)), engines, tmp_path)
    assert result.path.suffix == ".gif" and result.path.parent == tmp_path
    with Image.open(result.path) as im:
        assert im.n_frames == 4 and im.size == (256, 256)  # auto scale: at least 256 px wide
    settings = json.loads(result.settings.read_text())
    assert settings["morph"]["prompts"] == ["a red dragon", "a blue whale"]
    assert settings["encode"]["scale"] == 64 and settings["encode"]["hold"] == 200
    assert "4 frames" in result.summary
    generate(parse_form(form(frames=3)), engines, tmp_path)
    assert len(loads) == 1  # the engine is loaded once and reused


def test_engine_cache_reloads_for_another_model():
    engines, loads = fake_cache()
    first = engines.get({"model": None, "lora": None, "lora_scale": 1.0})
    assert engines.get({"model": None, "lora": None, "lora_scale": 1.0}) is first
    engines.get({"model": None, "lora": "x", "lora_scale": 1.0})
    assert len(loads) == 2


def test_missing_gradio_gives_the_install_hint(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)
    with pytest.raises(PixelgifError, match="pip install"):
        require_gradio()
    assert main(["web"]) == 1
    err = capsys.readouterr().err
    assert INSTALL_HINT in err and len(err.strip().splitlines()) == 1


def test_web_command_parses_its_flags(monkeypatch):
    import pixelgif.web

    seen = {}
    monkeypatch.setattr(pixelgif.web, "launch", lambda **kw: seen.update(kw))
    assert main(["web", "--host", "0.0.0.0", "--port", "8123", "--share"]) == 0
    assert seen == {"host": "0.0.0.0", "port": 8123, "share": True}
    with pytest.raises(SystemExit):
        main(["web", "--port", "99999"])


def test_build_app_without_a_server(tmp_path):
    gr = pytest.importorskip("gradio")
    from pixelgif.web import build_app

    engines, loads = fake_cache()
    app = build_app(engines=engines, out_dir=tmp_path)
    assert isinstance(app, gr.Blocks)
    labels = [getattr(block, "label", None) for block in app.blocks.values()]
    assert "Seed" in labels and "Result" in labels
    assert any(isinstance(b, gr.Button) and b.value == "Generate" for b in app.blocks.values())
    # Drive the Generate handler directly, with the form's default values.
    handler = next(fn for fn in app.fns.values() if getattr(fn.fn, "__name__", "") == "on_generate")
    inputs = [block.value for block in handler.inputs]
    prompts_index = next(i for i, block in enumerate(handler.inputs) if getattr(block, "lines", 1) == 4)
    inputs[prompts_index] = PROMPTS
    preview, files, summary = handler.fn(*inputs)
    assert preview.endswith(".gif") and len(files) == 2 and "frames" in summary
    assert len(loads) == 1
    with pytest.raises(gr.Error, match="at least two prompts"):
        handler.fn(*[("one prompt" if i == prompts_index else v) for i, v in enumerate(inputs)])


def test_one_default_per_setting():
    # The form defaults are the dataclasses' own: changing a dataclass default changes the form.
    changed = dataclasses.replace(EncodeConfig(), duration=250)
    assert changed.duration == 250 and defaults()["duration"] == EncodeConfig().duration
