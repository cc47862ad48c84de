"""One run path: `pixelgif morph` and the web studio write the same files for the same settings."""

from __future__ import annotations

import json
import zipfile

import pytest

from pixelgif.cli import main
from pixelgif.morph.config import MorphConfig
from pixelgif.run import RunRequest, check_run, run_morph
from pixelgif.web import storyboard as sb
from pixelgif.web.form import defaults, parse_form
from pixelgif.web.studio import Studio

PROMPTS = ["a red apple", "a blue whale"]


def _settings(path):
    """Return a settings file without what legitimately differs between runs and front ends."""
    document = json.loads(path.read_text())
    for key in ("run", "versions", "output"):
        document.pop(key)
    return document


@pytest.fixture(scope="module")
def web_and_cli(tmp_path_factory):
    """Run the same morph through the web studio and the CLI; return (Morphed, CLI folder)."""
    values = {**defaults(), "frames": 3, "steps": 2, "colors": 8, "spacing": "linear"}
    request = parse_form(values, [sb.Keyframe(PROMPTS[0], 5), sb.Keyframe(PROMPTS[1], 9)])
    studio = Studio(root=tmp_path_factory.mktemp("web"))
    morphed = studio.morph(request, "session")
    cli = tmp_path_factory.mktemp("cli")
    common = [*PROMPTS, "--seed", "5,9", "--frames", "3", "--steps", "2", "--colors", "8", "--spacing", "linear", "-q"]
    assert main(["morph", *common, "-o", str(cli / "out.gif")]) == 0
    assert main(["morph", *common, "--format", "spritesheet", "-o", str(cli / "sheet.png")]) == 0
    return morphed, cli


def test_cli_and_web_write_the_same_gif_and_settings(web_and_cli):
    morphed, cli = web_and_cli
    assert morphed.files["gif"].read_bytes() == (cli / "out.gif").read_bytes()
    assert _settings(morphed.settings) == _settings(cli / "out.json")
    assert json.loads(morphed.settings.read_text())["run"]["source"] == "web"


def test_cli_and_web_write_the_same_spritesheet(web_and_cli):
    morphed, cli = web_and_cli
    with zipfile.ZipFile(morphed.files["spritesheet"]) as bundle:
        names = sorted(bundle.namelist())
        sheet = bundle.read(next(n for n in names if n.endswith(".png")))
    assert len(names) == 2 and sheet == (cli / "sheet.png").read_bytes()  # native size in both: scale 1


def test_run_morph_api_writes_output_and_settings(tmp_path):
    request = RunRequest(MorphConfig(prompts=PROMPTS, frames=2, steps=2, spacing="linear"), output=tmp_path / "a.webp")
    written = run_morph(request, progress=False)
    assert written.format == "webp" and written.files == [tmp_path / "a.webp"] and written.output.is_file()
    settings = json.loads(written.settings.read_text())
    assert settings["model"]["model"] == "bundled" and settings["morph"]["prompts"] == PROMPTS
    assert written.encode.scale == 8  # 32 px sprites shown at least 256 px wide


def test_bad_requests_fail_before_any_model_loads(tmp_path):
    with pytest.raises(ValueError, match="unknown model option"):
        RunRequest(MorphConfig(prompts=PROMPTS), model={"modle": "x"})
    request = RunRequest(MorphConfig(prompts=PROMPTS), output=tmp_path / "missing" / "a.gif")
    with pytest.raises(Exception, match="does not exist"):
        check_run(request)
    assert not (tmp_path / "missing").exists()


def test_preview_keyframes_are_the_keyframes_of_the_full_morph(tmp_path):
    """The page's Preview goes through run.py too: its PNGs are the full morph's keyframes, scaled as the run is."""
    import numpy as np
    from PIL import Image

    from pixelgif.run import load_engine, preview_keyframes, write_format

    engine = load_engine(dtype="float32", progress=False)  # bfloat16 would blur "the same render" more
    request = RunRequest(MorphConfig(prompts=PROMPTS, frames=3, steps=2, seed=4, spacing="linear"),
                         output=tmp_path / "m.gif")  # fmt: skip
    result, paths = preview_keyframes(request, engine, tmp_path)
    assert [p.name for p in paths] == ["keyframe-1.png", "keyframe-2.png"]
    full = run_morph(request, engine, progress=False).result
    for i, (path, index) in enumerate(zip(paths, full.keyframe_indices, strict=True)):
        with Image.open(path) as png:
            assert png.size == tuple(side * 8 for side in result.size)  # the run's automatic scale: back to 256 px
            shown = png.convert("RGBA").resize(result.size, Image.NEAREST)
        assert np.array_equal(np.asarray(shown), np.asarray(result.pixel_frames[i].convert("RGBA")))
        # Same noise and text as the full morph (up to float noise of another batch split).
        raw = np.asarray(result.frames[i], dtype=int) - np.asarray(full.frames[index], dtype=int)
        assert np.abs(raw).max() <= 2
    sheet = write_format(request, full, "spritesheet", tmp_path / "sheet", "m")
    assert sheet.suffix == ".zip" and sorted(zipfile.ZipFile(sheet).namelist()) == ["m.json", "m.png"]
