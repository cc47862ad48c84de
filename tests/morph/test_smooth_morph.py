"""Even spacing, --same-noise and --report end to end: tiny Stable Diffusion and the bundled model."""

import itertools
import json
import os
import sys

import numpy as np
import pytest

from pixelgif.cli import main
from pixelgif.morph.engine import MorphConfig
from pixelgif.morph.spacing import render_budget
from pixelgif.run import load_engine

PROMPTS = ["a red dragon", "a blue whale", "a green frog"]
FAST = ["--steps", "2", "--frames", "4", "--quiet"]


@pytest.fixture(scope="module")
def engine(tiny_sd):
    return load_engine(str(tiny_sd), progress=False)


def _arrays(images):
    return [np.asarray(image) for image in images]


def morph(capsys, *argv):
    code = main(["morph", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_even_spacing_reports_progress_once_across_its_passes(engine):
    seen = []
    result = engine(MorphConfig(prompts=PROMPTS, frames=4, steps=2, batch_size=3),
                    callback=lambda done, total: seen.append((done, total)))  # fmt: skip
    dones = [done for done, _ in seen]
    assert dones == sorted(dones) and dones[0] > 0  # forward only: no restart per pass
    assert all(total == render_budget(9) for _, total in seen[:-1])  # the budget, until the end
    assert seen[-1] == (result.renders, result.renders)  # then exactly what was rendered: 100 %


def test_even_spacing_keeps_keyframes_exact_and_counts_renders(engine, monkeypatch):
    options = dict(prompts=PROMPTS, frames=4, steps=2, loop=True, batch_size=1)
    sent = []
    render = engine.render

    def counting_render(frames, config, callback=None, progress=None):
        sent.append(len(frames))
        return render(frames, config, callback, progress)

    monkeypatch.setattr(engine, "render", counting_render)
    even = engine(MorphConfig(spacing="even", **options))
    assert even.renders == sum(sent) and 2 <= len(sent) <= 5  # a few batched passes, every frame counted
    monkeypatch.undo()
    linear = engine(MorphConfig(spacing="linear", **options))
    assert len(even.frames) == len(linear.frames) == 12
    assert even.keyframe_indices == linear.keyframe_indices == [0, 4, 8]
    for index in even.keyframe_indices:  # the seams: the very same keyframe renders
        assert np.array_equal(_arrays(even.frames)[index], _arrays(linear.frames)[index])
    for first in (0, 4, 8):
        ts = even.frame_t[first : first + 4]
        assert ts[0] == 0.0 and all(0 < a < b < 1 for a, b in itertools.pairwise(ts[1:]))
    assert linear.renders == 12 and linear.frame_t == [0, 0.25, 0.5, 0.75] * 3
    assert 12 <= even.renders <= render_budget(12) == 18
    again = engine(MorphConfig(spacing="even", **options))
    assert again.frame_t == even.frame_t
    assert all(
        np.array_equal(a, b) for a, b in zip(_arrays(again.pixel_frames), _arrays(even.pixel_frames), strict=True)
    )


def test_same_noise_shares_the_first_seed(engine):
    base = MorphConfig(prompts=PROMPTS, seed=4, same_noise=True)
    assert base.keyframe_seeds == [4, 4, 4]
    assert MorphConfig(prompts=PROMPTS, seeds=[2, 2, 2], same_noise=True).keyframe_seeds == [2, 2, 2]
    with pytest.raises(ValueError, match="same noise uses one seed for every keyframe"):
        MorphConfig(prompts=PROMPTS, seeds=[1, 2, 3], same_noise=True)
    options = dict(prompts=PROMPTS[:2], frames=2, steps=2, seed=4, spacing="linear")
    shared = engine(MorphConfig(same_noise=True, **options))
    own = engine(MorphConfig(**options))
    assert np.array_equal(_arrays(shared.frames)[0], _arrays(own.frames)[0])  # keyframe 0 keeps seed 4
    assert not np.array_equal(_arrays(shared.frames)[-1], _arrays(own.frames)[-1])  # keyframe 1: seed 4, not 5
    assert shared.config.seeds == [4, 4]


def test_bad_spacing_is_a_helpful_error():
    with pytest.raises(ValueError, match="unknown spacing 'smooth'; choose one of: even, linear"):
        MorphConfig(prompts=PROMPTS, spacing="smooth")


def test_cli_report_prints_numbers_writes_plot_and_from_reproduces(tiny_sd, tmp_path, capsys):
    out = tmp_path / "m.gif"
    code, stdout, err = morph(capsys, *PROMPTS[:2], "--model", tiny_sd, *FAST, "--report", "--same-noise", "-o", out)
    assert code == 0, err
    assert "smoothness" in stdout and "max/mean step" in stdout and "rendered" in stdout
    plot = tmp_path / "m.report.png"
    assert f"wrote {plot}" in stdout and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    settings = json.loads((tmp_path / "m.json").read_text())
    assert settings["morph"]["spacing"] == "even" and settings["morph"]["same_noise"] is True
    assert settings["morph"]["seeds"] == [0, 0]
    assert 5 <= settings["run"]["renders"] <= render_budget(5)
    assert 0 < settings["run"]["quality"]["overall"]["smoothness"] <= 1
    again = tmp_path / "again.gif"
    assert morph(capsys, "--from", tmp_path / "m.json", "-q", "-o", again)[0] == 0
    assert again.read_bytes() == out.read_bytes()
    # Turning same noise off again gives each keyframe its own seed back.
    assert morph(capsys, "--from", tmp_path / "m.json", "--no-same-noise", "-q", "-o", tmp_path / "own.gif")[0] == 0
    assert json.loads((tmp_path / "own.json").read_text())["morph"]["seeds"] == [0, 1]


def test_cli_linear_spacing_and_old_settings_files_stay_linear(tiny_sd, tmp_path, capsys):
    linear = tmp_path / "linear.gif"
    assert morph(capsys, *PROMPTS[:2], "--model", tiny_sd, *FAST, "--spacing", "linear", "-o", linear)[0] == 0
    settings = json.loads((tmp_path / "linear.json").read_text())
    assert settings["run"]["renders"] == settings["run"]["frames"] == 5
    # A settings file from before spacing existed (version 1) was made with linear spacing.
    del settings["morph"]["spacing"], settings["morph"]["same_noise"]
    settings["version"] = 1
    (tmp_path / "old.json").write_text(json.dumps(settings))
    assert morph(capsys, "--from", tmp_path / "old.json", "-q", "-o", tmp_path / "old.gif")[0] == 0
    assert (tmp_path / "old.gif").read_bytes() == linear.read_bytes()


def test_report_without_matplotlib_is_one_line_before_rendering(tiny_sd, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    code, _, err = morph(capsys, *PROMPTS[:2], "--model", tiny_sd, *FAST, "--report", "-o", tmp_path / "x.gif")
    assert code == 1 and 'pip install "pixelgif[report]"' in err
    assert len(err.strip().splitlines()) == 1 and os.listdir(tmp_path) == []


def test_bundled_model_even_loop(tmp_path):
    from pixelgif.morph.quality import measure_morph

    bundled = load_engine(progress=False)
    config = MorphConfig(prompts=["a red apple", "a blue whale"], frames=6, steps=3, loop=True)
    result = bundled(config)
    assert len(result.frames) == 12 and result.keyframe_indices == [0, 6]
    assert result.frames[0].mode == "RGBA" and 12 <= result.renders <= render_budget(12)
    quality = measure_morph(result)
    assert len(quality.segments) == 2 and 0 < quality.overall.smoothness <= 1


def test_help_lists_the_smoothness_options(capsys):
    with pytest.raises(SystemExit):
        main(["morph", "--help"])
    text = capsys.readouterr().out
    for flag in ("--spacing {even,linear}", "--same-noise", "--report", "cat.report.png"):
        assert flag in text, flag
