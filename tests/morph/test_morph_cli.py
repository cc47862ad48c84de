"""`pixelgif morph` end to end on the tiny Stable Diffusion: GIFs, determinism, --from, LoRA, bad input."""

import json
import os
import subprocess
import sys

import pytest
from PIL import GifImagePlugin, Image

from pixelgif.cli import main

FAST = ["--steps", "2", "--frames", "3", "--quiet"]


def morph(capsys, *argv):
    """Run `pixelgif morph ARGV`; return (exit code, stdout, stderr)."""
    code = main(["morph", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def gif_frames(path):
    """Return the frames of a GIF as P images (None where a frame has its own palette)."""
    GifImagePlugin.LOADING_STRATEGY = GifImagePlugin.LoadingStrategy.RGB_AFTER_DIFFERENT_PALETTE_ONLY
    try:
        with Image.open(path) as image:
            frames = []
            for index in range(image.n_frames):
                image.seek(index)
                frames.append(image.copy() if image.mode == "P" else None)
            return frames
    finally:
        GifImagePlugin.LOADING_STRATEGY = GifImagePlugin.LoadingStrategy.RGB_AFTER_FIRST


def test_three_prompts_loop_writes_gif_json_and_summary(tiny_sd, tmp_path, capsys):
    out = tmp_path / "x.gif"
    code, stdout, err = morph(
        capsys, "a red dragon", "a blue whale", "a frog", "--loop", "--model", tiny_sd, *FAST, "-o", out
    )
    assert code == 0, err
    frames = gif_frames(out)
    assert len(frames) == 9  # 3 keyframes x 3 frames, looped
    assert all(frame is not None for frame in frames), "every frame uses the one global palette"
    assert frames[0].size == (256, 256)  # 32 art pixels, auto-scaled to at least 256
    assert stdout.strip().splitlines() == [f"wrote {out} (9 frames, 256x256 pixels, {stdout.split(', ')[-1].strip()}"]
    settings = json.loads((tmp_path / "x.json").read_text())
    assert settings["morph"]["prompts"] == ["a red dragon", "a blue whale", "a frog"]
    assert settings["morph"]["seeds"] == [0, 1, 2] and settings["morph"]["loop"] is True
    assert settings["model"]["model"] == str(tiny_sd.resolve())
    assert settings["encode"]["scale"] == 8 and settings["pixelate"]["pixel_size"] == 1
    assert {"pixelgif", "torch", "diffusers"} <= set(settings["versions"])


def test_same_seed_gives_identical_bytes(tiny_sd, tmp_path, capsys):
    args = ["a red dragon", "a blue whale", "--model", tiny_sd, *FAST, "--seed", "3"]
    assert morph(capsys, *args, "-o", tmp_path / "a.gif")[0] == 0
    assert morph(capsys, *args, "-o", tmp_path / "b.gif")[0] == 0
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
    assert morph(capsys, *args[:-1], "4", "-o", tmp_path / "c.gif")[0] == 0
    assert (tmp_path / "a.gif").read_bytes() != (tmp_path / "c.gif").read_bytes()


def test_from_settings_reproduces_and_flags_override(tiny_sd, tmp_path, capsys):
    first = tmp_path / "first.gif"
    options = ["--scheduler", "euler", "--negative-prompt", "blurry", "--text-interpolation", "slerp",
               "--easing", "ease-in-out", "--colors", "8", "--hold", "300", "--seed", "5,9"]  # fmt: skip
    assert morph(capsys, "a red dragon", "a blue whale", "--model", tiny_sd, *FAST, *options, "-o", first)[0] == 0
    again = tmp_path / "again.gif"
    code, _, err = morph(capsys, "--from", tmp_path / "first.json", "-o", again, "--quiet")
    assert code == 0, err
    assert again.read_bytes() == first.read_bytes()
    saved, redone = (json.loads((tmp_path / n).read_text()) for n in ("first.json", "again.json"))
    for section in ("model", "morph", "pixelate", "encode"):
        assert saved[section] == redone[section], section
    assert saved["morph"]["seeds"] == [5, 9] and saved["morph"]["scheduler"] == "Euler"

    changed = tmp_path / "changed.gif"
    assert morph(capsys, "--from", tmp_path / "first.json", "--seed", "6", "--frames", "2", "-o", changed, "-q")[0] == 0
    data = json.loads((tmp_path / "changed.json").read_text())
    assert data["morph"]["seeds"] == [6, 7] and data["morph"]["frames"] == 2
    assert data["morph"]["negative_prompt"] == "blurry" and data["pixelate"]["colors"] == 8
    assert len(gif_frames(changed)) == 3


def test_from_settings_without_output_rewrites_the_same_file(tiny_sd, tmp_path, capsys):
    out = tmp_path / "same.gif"
    assert morph(capsys, "a", "b", "--model", tiny_sd, *FAST, "-o", out)[0] == 0
    before = out.read_bytes()
    assert morph(capsys, "--from", tmp_path / "same.json", "-q")[0] == 0
    assert out.read_bytes() == before


def test_lora_changes_frames_and_scale_zero_removes_it(tiny_sd, tiny_lora, tmp_path, capsys):
    args = ["a red dragon", "a blue whale", "--model", tiny_sd, *FAST]
    assert morph(capsys, *args, "-o", tmp_path / "plain.gif")[0] == 0
    assert morph(capsys, *args, "--lora", tiny_lora, "-o", tmp_path / "lora.gif")[0] == 0
    assert morph(capsys, *args, "--lora", tiny_lora, "--lora-scale", "0", "-o", tmp_path / "zero.gif")[0] == 0
    plain = (tmp_path / "plain.gif").read_bytes()
    assert (tmp_path / "lora.gif").read_bytes() != plain
    assert (tmp_path / "zero.gif").read_bytes() == plain
    settings = json.loads((tmp_path / "lora.json").read_text())
    assert settings["model"]["lora"] == str(tiny_lora.resolve()) and settings["model"]["lora_scale"] == 1.0


def test_save_frames_and_animation_options(tiny_sd, tmp_path, capsys):
    out = tmp_path / "opts.gif"
    code, _, err = morph(capsys, "a", "b", "--model", tiny_sd, *FAST, "--grid", "8x8", "--scale", "3", "--boomerang",
                         "--duration", "50", "--palette", "pico-8", "--dither", "none", "--save-frames", tmp_path / "f", "-o", out)  # fmt: skip
    assert code == 0, err
    frames = gif_frames(out)
    assert frames[0].size == (24, 24)
    names = sorted(os.listdir(tmp_path / "f"))
    assert names[:2] == ["pixel_0000.png", "pixel_0001.png"] and len(names) == 2 * 4
    assert Image.open(tmp_path / "f" / "raw_0000.png").size == (32, 32)
    assert Image.open(tmp_path / "f" / "pixel_0000.png").size == (8, 8)


BAD_INPUT = [
    (["only one prompt"], "at least two prompts"),
    (["a", ""], "prompt 2 is empty"),
    (["a", "b", "--frames", "1"], "frames per transition must be a whole number from 2 to 1000"),
    (["a", "b", "--frames", "100000"], "frames per transition must be a whole number from 2 to 1000, got 100000"),
    (["a", "b", "--steps", "0"], "steps must be a whole number from 1 to 1000"),
    (["a", "b", "--width", "100"], "width must be a multiple of 8"),
    (["a", "b", "--height", "36"], "height must be a multiple of 8"),
    (["a", "b", "--guidance-scale", "-1"], "guidance scale must be a number of at least 0"),
    (["a", "b", "--scheduler", "fancy"], "choose one of: DDIM, DDPM, PNDM, LMS, Euler, Euler-a"),
    (["a", "b", "--model", "MISSING/folder/"], "model not found: no file or folder"),
    (["a", "b", "--model", "nobody/no-such-model"], "a hub id needs network access (or give a local path)"),
    (["a", "b", "--lora", "MISSING.safetensors"], "LoRA not found: no file or folder"),
    (["a", "b", "--lora", "nobody/no-such-lora"], "a hub id needs network access"),
    (["a", "b", "--lora", "BAD_LORA"], "does not fit model"),
    (["a", "b", "-o", "NO_DIR/x.gif"], "does not exist"),
    (["a", "b", "-o", "."], "already holds other files"),
    (["a", "b", "-o", "x.bmp"], "cannot tell the format"),
    (["a", "b", "-o", "x.json", "--format", "gif"], "overwritten by its own settings file"),
    (["a", "b", "--from", "missing.json"], "settings file not found"),
    (["a", "b", "--colors", "1"], "colors must be"),
    (["a", "b", "--duration", "0"], "duration must be a whole number"),
    (["a", "b", "--hold-ms", "-5"], "hold must be a whole number"),
    (["a", "b", "--scale", "0"], "scale must be a whole number from 1"),
    (["a", "b", "--format", "spritesheet", "-o", "x.gif"], "a spritesheet is a .png file"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUT, ids=[m for _, m in BAD_INPUT])
def test_bad_input_is_one_line_and_leaves_no_file(tiny_sd, tiny_lora, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    bad_lora = _mismatched_lora(tiny_lora, tmp_path / "in" / "bad.safetensors")
    argv = [str(bad_lora) if a == "BAD_LORA" else a for a in argv]
    if "--model" not in argv:
        argv += ["--model", str(tiny_sd)]
    if "-o" not in argv:
        argv += ["-o", "out.gif"]
    code, _out, err = morph(capsys, *FAST, *argv)  # argv last: its values win
    assert code != 0
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["in"], "no output, partial or temporary file is left"


def test_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["morph", "a", "b", "--frames", "many"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "invalid int value: 'many'" in err


def test_console_error_has_no_traceback(tmp_path):
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pixelgif", "morph", "a", "b", "--model", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.gif")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "model not found" in proc.stderr
    assert not (tmp_path / "x.gif").exists()


def test_console_morph_ends_at_once_with_its_output_flushed(tmp_path):
    # `entry` ends a morph's process with os._exit after the exit handlers: the printed lines and
    # the GIF (written by the helper process) must all be there, and the exit code 0.
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "cat.gif"
    proc = subprocess.run(
        [sys.executable, "-m", "pixelgif", "morph", "a cat", "a dog", "--frames", "3", "-o", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith(f"wrote {out}")
    assert out.read_bytes()[:6] == b"GIF89a"


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["morph", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--from cabin.json" in text
    for flag in ("--frames", "--loop", "--seed", "--batch-size", "--scheduler", "--steps", "--guidance-scale",
                 "--width", "--height", "--easing", "--text-interpolation", "--negative-prompt", "--model", "--lora",
                 "--lora-scale", "--device", "--dtype", "--save-frames", "--from", "--pixel-size", "--grid",
                 "--colors", "--palette", "--dither", "--duration", "--hold", "--boomerang", "--scale"):  # fmt: skip
        assert flag in text, flag


def _mismatched_lora(lora, path):
    """Write a copy of ``lora`` whose down-projections are too wide for the tiny model; return its path."""
    if not path.exists():
        import torch
        from safetensors.torch import load_file, save_file

        tensors = load_file(str(lora))
        save_file(
            {k: torch.zeros(v.shape[0], v.shape[1] + 8) if "down" in k else v for k, v in tensors.items()}, str(path)
        )
    return path


def test_a_sprite_model_folder_with_corrupt_weights_is_one_line_and_no_file(tmp_path, capsys):
    import shutil

    from pixelgif.models.bundled import SPRITE_MODEL_FILE, SPRITE_MODEL_FORMAT, WEIGHTS_DIR

    folder = tmp_path / "sprites"
    shutil.copytree(WEIGHTS_DIR, folder)
    (folder / SPRITE_MODEL_FILE).write_text(json.dumps({"format": SPRITE_MODEL_FORMAT}))
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # cut short, as a broken download
    out = tmp_path / "x.gif"
    assert main(["morph", "a cat", "a dog", "--model", str(folder), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and f"could not load model {str(folder)!r}" in err and "unexpected" not in err
    assert not out.exists()
