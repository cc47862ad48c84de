"""The web UI without a server: form defaults and parsing, the storyboard, limits, palette uploads,
Studio runs over the tiny Stable Diffusion, the serve command's flags and the install hint."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import threading
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from pixelgif import encode
from pixelgif.cli import main
from pixelgif.encode import EncodeConfig
from pixelgif.errors import PixelgifError
from pixelgif.morph.config import SCHEDULERS, SPACINGS, MorphConfig
from pixelgif.pixelate import PixelateConfig, builtin_names
from pixelgif.pixelate.config import DITHERS
from pixelgif.web import INSTALL_HINT, require_gradio
from pixelgif.web import storyboard as sb
from pixelgif.web.form import choices, defaults, formats, keyframes_from_slots, parse_form
from pixelgif.web.limits import Limits
from pixelgif.web.studio import Cancelled, EngineCache, Job, Studio, check_keyframe_upload, check_palette_upload

BOARD = [sb.Keyframe("a red dragon", 0), sb.Keyframe("a blue whale", 1)]


def test_defaults_and_choices_come_from_the_configs_and_modules():
    values, options = defaults(), choices()
    morph, pixel, enc = MorphConfig(prompts=["a", "b"]), PixelateConfig(), EncodeConfig()
    assert (values["frames"], values["loop"]) == (morph.frames, morph.loop)
    assert (values["dither"], values["colors"], values["reducer"]) == (pixel.dither, pixel.colors, pixel.reducer)
    assert (values["duration"], values["hold"], values["loop_count"]) == (enc.duration, enc.hold, enc.loop)
    assert options["scheduler"][1:] == list(SCHEDULERS) and options["dither"] == list(DITHERS)
    assert options["palette"][1:] == builtin_names() and formats() == list(encode.FORMATS)
    assert options["spacing"] == list(SPACINGS) and values["spacing"] == morph.spacing


def test_default_form_gives_default_configs():
    request = parse_form(defaults(), BOARD)
    assert request.morph == MorphConfig(prompts=["a red dragon", "a blue whale"], seeds=[0, 1])
    assert request.pixelate == PixelateConfig() and request.encode == EncodeConfig()
    assert request.model == {
        "model": "bundled",
        "lora": None,
        "lora_scale": 1.0,
        "device": None,
        "dtype": None,
        "vae": None,
    }
    assert request.auto_scale


def test_form_values_reach_the_configs():
    values = {**defaults(), "frames": 5.0, "loop": True, "grid": "48x32", "colors": "8", "palette": "pico-8",
              "dither": "none", "steps": "", "guidance_scale": "0", "scale": "3", "loop_count": 2,
              "lora": "pixelart", "lora_scale": 0.5, "library": False}  # fmt: skip
    request = parse_form(values, [sb.Keyframe("a", 7), sb.Keyframe("b", 3)])
    assert (request.morph.seeds, request.morph.frames, request.morph.loop) == ([7, 3], 5, True)
    assert request.morph.library is False and parse_form(defaults(), [sb.Keyframe("a"), sb.Keyframe("b")]).morph.library
    assert request.morph.steps is None and request.morph.guidance_scale == 0.0
    assert request.pixelate.grid == (48, 32) and request.pixelate.colors == 8 and request.pixelate.palette == "pico-8"
    assert request.encode.scale == 3 and request.encode.loop == 2 and not request.auto_scale
    assert request.model["lora"] == "pixelart" and request.model["lora_scale"] == 0.5


@pytest.mark.parametrize("blank", ["", "  ", None])
def test_a_blank_lora_scale_means_the_default_not_zero(blank):
    from pixelgif.models import LORA_SCALE

    values = {**defaults(), "lora": "pixelart", "lora_scale": blank}
    assert defaults()["lora_scale"] == LORA_SCALE == 1.0
    assert parse_form(values, BOARD).model["lora_scale"] == LORA_SCALE  # 0 would switch the LoRA off
    assert parse_form({**values, "lora_scale": "0"}, BOARD).model["lora_scale"] == 0.0  # a real 0 stays 0


@pytest.mark.parametrize(
    "changes,board,match",
    [
        ({}, BOARD[:1], "at least two prompts"),
        ({}, [], "at least two prompts"),
        ({}, [BOARD[0], sb.Keyframe("  ", 1)], "prompt 2 is empty"),
        ({"grid": "big"}, BOARD, "grid"),
        ({"colors": "1"}, BOARD, "colo"),
        ({"frames": 2.5}, BOARD, "whole number"),
        ({"frames": None}, BOARD, "frames is empty"),
        ({"duration": 0}, BOARD, "duration"),
        ({"palette": "no-such-palette"}, BOARD, "palette"),
        ({"pixel_size": "4", "grid": "32"}, BOARD, "conflicting"),
    ],
)
def test_bad_form_values_are_one_line_errors(changes, board, match):
    with pytest.raises(ValueError, match=match) as error:
        parse_form({**defaults(), **changes}, board)
    assert "\n" not in str(error.value)


def test_slots_become_keyframes():
    board = keyframes_from_slots(2, [" a ", "b", "unused"], [3.0, 4, None], [True, False, False])
    assert board == [sb.Keyframe("a", 3, True), sb.Keyframe("b", 4, False)]
    with pytest.raises(ValueError, match="seed of keyframe 2"):
        keyframes_from_slots(2, ["a", "b"], [3, None], [False, False])


def test_image_slots_become_image_keyframes_with_the_prompt_as_caption(tmp_path):
    from pixelgif.morph.keyframes import Keyframe as MorphKeyframe
    from pixelgif.settings import build_settings, check_settings
    from pixelgif.web.form import settings_to_form

    sprite = tmp_path / "knight.png"
    Image.new("RGBA", (16, 16), (200, 30, 30, 255)).save(sprite)
    board = keyframes_from_slots(2, ["a knight", "a wizard"], [1, 2], [False, False], [str(sprite), None])
    assert board[0] == sb.Keyframe("a knight", 1, False, str(sprite)) and board[1].image is None
    request = parse_form(defaults(), board)
    first, second = request.morph.prompts
    assert isinstance(first, MorphKeyframe) and first.image == str(sprite) and first.caption == "a knight"
    assert second == "a wizard"
    uncaptioned = parse_form(defaults(), [sb.Keyframe("", 1, False, str(sprite)), sb.Keyframe("b", 2)])
    assert uncaptioned.morph.prompts[0].caption is None  # an image needs no prompt
    data = build_settings(model=request.model, morph=request.morph, pixelate=request.pixelate,
                          encode=request.encode, output="x.gif")  # fmt: skip
    data = check_settings(json.loads(json.dumps(data, default=str)), "x.json")
    _, keyframes, notes = settings_to_form(data)
    assert keyframes[0] == sb.Keyframe("a knight", 1, True, str(sprite)) and notes == []
    sprite.unlink()
    _, keyframes, notes = settings_to_form(data)
    assert keyframes[0].image is None and notes == ["the image of keyframe 1 is not on this server; upload it again"]


def test_storyboard_edits():
    board = sb.initial_board()
    assert [k.seed for k in board] == MorphConfig(prompts=["a", "b"]).keyframe_seeds
    board = sb.add_keyframe([sb.Keyframe("a", 5), sb.Keyframe("b", 9)])
    assert board[-1] == sb.Keyframe("", 10)
    assert [k.prompt for k in sb.move_keyframe(board, 2, -1)] == ["a", "", "b"]
    assert [k.prompt for k in sb.move_keyframe(board, 0, -1)] == ["a", "b", ""]  # clamped at the top
    assert [k.prompt for k in sb.remove_keyframe(board, 0)] == ["b", ""]
    with pytest.raises(ValueError, match="at least 2"):
        sb.remove_keyframe(board[:2], 0)
    full = sb.initial_board(sb.MAX_KEYFRAMES)
    with pytest.raises(ValueError, match="at most"):
        sb.add_keyframe(full)


def test_reroll_keeps_locked_seeds():
    board = [sb.Keyframe("a", 1, locked=True), sb.Keyframe("b", 2), sb.Keyframe("c", 3)]
    rolled = sb.reroll(board, rng=random.Random(0))
    assert rolled[0].seed == 1 and rolled[1].seed != 2 and rolled[2].seed != 3
    assert sb.reroll(board, rng=random.Random(0)) == rolled  # the same random numbers, the same seeds
    one = sb.reroll(board, index=2, rng=random.Random(0))
    assert [k.seed for k in one[:2]] == [1, 2] and one[2].seed != 3
    assert sb.reroll(board, index=0)[0].seed == 1  # a locked seed stays even when asked directly


def test_limits():
    limits = Limits(max_frames=10, max_resolution=64)
    limits.check_frames(10)
    with pytest.raises(PixelgifError, match="too many frames: this morph has 11, the server allows 10"):
        limits.check_frames(11)
    with pytest.raises(PixelgifError, match="resolution too large: 128x64"):
        limits.check_size(128, 64)
    with pytest.raises(ValueError, match="max frames"):
        Limits(max_frames=0)


def test_palette_uploads_are_checked(tmp_path):
    limits = Limits(max_upload_bytes=100)
    good = tmp_path / "duo.hex"
    good.write_text("000000\nffffff\n")
    assert check_palette_upload(good, limits) == good
    bad = tmp_path / "notes.gpl"
    bad.write_text("shopping list\n")
    with pytest.raises(PixelgifError, match=r"'notes\.gpl' is not a palette") as error:
        check_palette_upload(bad, limits)
    assert str(tmp_path) not in str(error.value)  # the server's temp folder is not shown
    wrong = tmp_path / "photo.txt"
    wrong.write_text("000000\n")
    with pytest.raises(PixelgifError, match=r"use a \.gpl"):
        check_palette_upload(wrong, limits)
    big = tmp_path / "big.hex"
    big.write_text("000000\n" * 20)
    with pytest.raises(PixelgifError, match="140 bytes; the server accepts up to 100"):
        check_palette_upload(big, limits)


@pytest.fixture()
def studio(tiny_sd, tmp_path):
    loads = []

    def factory(**model):
        from pixelgif.run import load_engine

        loads.append(model)
        return load_engine(**model, progress=False)

    studio = Studio(Limits(max_frames=12, max_resolution=48), EngineCache(factory), root=tmp_path / "serve")
    studio.loads = loads
    return studio


def _request(tiny_sd, **changes):
    values = {**defaults(), "model": str(tiny_sd), "frames": 2, "steps": "2", **changes}
    return parse_form(values, BOARD)


def test_studio_morph_writes_every_format_and_settings(studio, tiny_sd):
    reports = []
    morphed = studio.morph(_request(tiny_sd, hold=200), "session-a", Job(report=lambda d, t: reports.append((d, t))))
    written = set(morphed.files) | set(morphed.skipped)
    assert written == set(encode.FORMATS) and {"gif", "webp", "apng"} <= set(morphed.files)
    with Image.open(morphed.files["gif"]) as gif:
        assert gif.n_frames == 3 and gif.size == (256, 256)
    settings = json.loads(morphed.settings.read_text())
    assert settings["morph"]["seeds"] == [0, 1] and settings["encode"]["hold"] == 200
    assert settings["output"] == morphed.files["gif"].name and settings["encode"]["format"] is None
    assert reports[-1] == (3, 3) and "3 frames" in morphed.summary
    assert all(studio.root / "session-a" in p.parents for p in morphed.files.values())
    for path in morphed.files.values():  # formats of several files (spritesheet + JSON, frames) come zipped
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as bundle:
                assert len(bundle.namelist()) > 1 and not bundle.testzip()
        else:
            assert path.is_file() and path.stat().st_size > 0
    # A second run keeps the first (the page compares the last few), named from the prompts; the model is reused.
    again = studio.morph(_request(tiny_sd), "session-a")
    assert morphed.files["gif"].exists() and again.files["gif"].exists() and len(studio.loads) == 1
    assert again.files["gif"].name == "red-dragon-to-blue-whale.gif" and len(morphed.durations) == 3
    studio.close_session("session-a")
    assert not (studio.root / "session-a").exists()
    studio.close()
    assert not studio.root.exists()


def test_studio_preview_renders_only_the_keyframes(studio, tiny_sd, tmp_path):
    palette = tmp_path / "duo.hex"
    palette.write_text("1a1c2c\nffcd75\n")
    previewed = studio.preview(_request(tiny_sd), "s", Job())
    assert [caption for _, caption in previewed.images] == ["1: a red dragon (seed 0)", "2: a blue whale (seed 1)"]
    values = {**defaults(), "model": str(tiny_sd), "steps": "2"}
    with_palette = studio.preview(parse_form(values, BOARD, palette_file=str(palette)), "s")
    for path, _ in with_palette.images:
        colours = {tuple(c) for c in np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)}
        assert colours <= {(0x1A, 0x1C, 0x2C), (0xFF, 0xCD, 0x75)}


def test_studio_limits_stop_before_rendering(studio, tiny_sd):
    with pytest.raises(PixelgifError, match="too many frames"):
        studio.morph(_request(tiny_sd, frames=12), "s")
    assert studio.loads == []  # refused before the model loads
    with pytest.raises(PixelgifError, match="resolution too large: 64x64"):
        studio.morph(_request(tiny_sd, width="64", height="64"), "s")
    assert not any(studio.root.rglob("*.gif"))


def test_cancelled_job_stops_the_render(studio, tiny_sd):
    job = Job()
    job.cancel.set()
    with pytest.raises(PixelgifError, match="cancelled"):
        studio.morph(_request(tiny_sd), "s", job)
    assert not any(studio.root.rglob("*.gif"))
    assert not studio.engines.lock.locked()


def test_missing_gradio_gives_the_install_hint(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)
    with pytest.raises(PixelgifError, match="pip install"):
        require_gradio()
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert INSTALL_HINT in err and len(err.strip().splitlines()) == 1


def test_serve_command_parses_its_flags(monkeypatch):
    import pixelgif.web

    seen = {}
    monkeypatch.setattr(pixelgif.web, "launch", lambda **kw: seen.update(kw))
    assert main(["serve"]) == 0
    assert (seen["host"], seen["port"], seen["share"], seen["limits"]) == ("127.0.0.1", 7860, False, Limits())
    assert main(["web", "--host", "0.0.0.0", "--port", "8123", "--share", "--max-frames", "50",
                 "--max-resolution", "512", "--max-upload-size", "4", "--queue-size", "2"]) == 0  # fmt: skip
    assert (seen["host"], seen["port"], seen["share"]) == ("0.0.0.0", 8123, True)
    assert seen["limits"] == Limits(max_frames=50, max_resolution=512, max_upload_bytes=4000, queue_size=2)
    for bad in (["--port", "99999"], ["--max-frames", "0"]):
        with pytest.raises(SystemExit):
            main(["serve", *bad])


def test_build_app_without_a_server(tmp_path):
    gr = pytest.importorskip("gradio")
    from pixelgif.web import build_app

    app = build_app(Studio(root=tmp_path / "serve"))
    assert isinstance(app, gr.Blocks)
    labels = {getattr(block, "label", None) for block in app.blocks.values()}
    assert {"Prompt 1", f"Prompt {sb.MAX_KEYFRAMES}", "Seed 1", "Lock seed 1", "Result", "Keyframes"} <= labels
    buttons = {b.value for b in app.blocks.values() if isinstance(b, gr.Button)}
    buttons |= {b.label for b in app.blocks.values() if isinstance(b, gr.DownloadButton)}
    assert {"Morph", "Preview keyframes", "Cancel", "Add keyframe", "Download GIF", "Download settings JSON"} <= buttons
    api = {fn.api_name for fn in app.fns.values() if fn.api_visibility == "public"}
    assert {"morph", "preview", "check_palette"} <= api
    morph = next(fn for fn in app.fns.values() if fn.api_name == "morph")
    assert morph.concurrency_limit == 1 and morph.concurrency_id == "render"


def test_the_page_controller_works_without_a_browser(tmp_path):
    pytest.importorskip("gradio")
    from pixelgif.web import build_app
    from pixelgif.web.app import CANCELLED

    controller = build_app(Studio(root=tmp_path / "serve")).controller
    values, k = defaults(), sb.MAX_KEYFRAMES

    def slots(*items):
        return [*items, *[None] * (k - len(items))]

    page = [2, *slots("a red dragon", "a blue whale"), *slots(0, 1), *slots(False, False), *slots(None, None)]
    page += [*(values[name] for name in controller.names), None]
    assert controller.request_of(page) == parse_form(values, BOARD)  # the page's inputs, in order, as the form
    controller.started("Morphing")(None)  # a fresh cancel flag for the session
    controller.on_cancel(None)
    assert controller.page_jobs["anonymous"].cancel.is_set()

    def work(values_in, request):
        raise AssertionError("a cancelled run must not start")

    made, answer = asyncio.run(controller.attempt(work, page, None, None))
    assert made is None and CANCELLED in str(answer[controller.status])
    controller.on_unload(None)
    assert "anonymous" not in controller.page_jobs


def test_cancel_reaches_a_run_whose_flag_a_later_start_replaced(tmp_path):
    """Issue 25: "Cancelling…" stuck: a second start (a double click, a prompt's Enter) replaced the
    session's flag while the first run still rendered with its own, which Cancel then never set."""
    pytest.importorskip("gradio")
    from pixelgif.web import build_app
    from pixelgif.web.app import CANCELLED

    controller = build_app(Studio(root=tmp_path / "serve")).controller

    def work(values_in, request):
        def render(job):  # a long render that checks its flag at every step, as the engine's callback does
            for _ in range(500):
                job(0, 1)
                job.cancel.wait(0.01)
            return "finished"

        return "rendering", render

    async def scenario():
        controller.started("Morphing")(None)
        run = asyncio.create_task(controller.attempt(work, [], None, lambda *a, **k: None))
        await asyncio.sleep(0.2)  # rendering now
        controller.started("Previewing")(None)  # a fresh flag for the next run, not the running one's
        controller.on_cancel(None)
        return await asyncio.wait_for(run, 3)

    made, answer = asyncio.run(scenario())
    assert made is None and CANCELLED in str(answer[controller.status])
    assert controller.running == {}  # nothing is left under way


def test_a_run_cancelled_while_waiting_for_the_engine_stops_there(tmp_path):
    studio = Studio(root=tmp_path / "serve", engines=EngineCache(lambda **model: pytest.fail("no model loads")))
    job, done = Job(), threading.Event()
    job.cancel.set()
    held = threading.Event()

    def hold() -> None:  # as a model loading, or another render still stopping, does
        with studio.engines.lock:
            held.set()
            done.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        for run in (studio.preview, studio.morph):
            started = time.monotonic()
            with pytest.raises(Cancelled):
                run(parse_form(defaults(), BOARD), "s", job)
            assert time.monotonic() - started < 2  # not after the lock is free
    finally:
        done.set()
        holder.join()
    assert not list((tmp_path / "serve").rglob("*.png"))  # nothing written, the run folders removed


def test_preload_loads_the_model_then_the_gif_writer_and_only_logs_failures(tmp_path, monkeypatch, caplog):
    from pixelgif.encode.gif import helper

    order: list[str] = []
    monkeypatch.setattr(helper, "warm_up", lambda: order.append("gif writer"))
    studio = Studio(root=tmp_path / "a", engines=EngineCache(lambda **model: order.append("model") or object()))
    studio.preload({"model": None}).join(10)
    assert order == ["model", "gif writer"] and studio.engines.loaded

    def broken() -> None:
        raise OSError("disk full")

    def no_weights(**model):
        raise PixelgifError("no weights")

    monkeypatch.setattr(helper, "warm_up", broken)
    failing = Studio(root=tmp_path / "b", engines=EngineCache(no_weights))
    with caplog.at_level("WARNING"):
        failing.preload({"model": None}).join(10)
    assert "could not preload the model" in caplog.text and "could not preload the GIF writer: disk full" in caplog.text


def test_studio_morph_reports_smoothness(studio, tiny_sd):
    pytest.importorskip("pixelgif.morph.quality", reason="the smoothness report comes with pixelgif.morph.quality")
    pytest.importorskip("matplotlib")
    morphed = studio.morph(_request(tiny_sd), "s")
    assert "smoothness" in morphed.summary
    with Image.open(morphed.report) as plot:
        assert plot.format == "PNG" and plot.width > 100


def test_uploaded_palette_is_kept_in_the_settings_file(studio, tiny_sd, tmp_path):
    from pixelgif.settings import config_from_dict, read_settings

    palette = tmp_path / "duo.gpl"
    palette.write_text("GIMP Palette\n26 28 44 ink\n255 205 117 sand\n")
    values = {**defaults(), "model": str(tiny_sd), "frames": 2, "steps": "2"}
    morphed = studio.morph(parse_form(values, BOARD, palette_file=str(palette)), "s")
    palette.unlink()  # the upload is gone; `pixelgif morph --from` must not need it
    settings = read_settings(morphed.settings)
    pixelate = config_from_dict(PixelateConfig, settings["pixelate"], "pixelate")
    assert pixelate.palette_rgb.tolist() == [[26, 28, 44], [255, 205, 117]]


def test_settings_file_fills_the_form_again(tmp_path):
    from pixelgif.settings import build_settings, check_settings, config_to_dict
    from pixelgif.web.form import settings_to_form

    values = {**defaults(), "frames": 5, "palette": "pico-8", "colors": "6", "steps": "4", "scale": "3", "hold": 120}
    request = parse_form(values, [sb.Keyframe("a", 7), sb.Keyframe("b", 3)])
    data = build_settings(model=request.model, morph=request.morph, pixelate=request.pixelate,
                          encode=request.encode, output="x.gif")  # fmt: skip
    data = json.loads(json.dumps(data, default=str))
    form, keyframes, notes = settings_to_form(check_settings(data, "x.json"))
    assert [(k.prompt, k.seed, k.locked) for k in keyframes] == [("a", 7, True), ("b", 3, True)] and notes == []
    again = parse_form(form, keyframes)
    assert again.morph == request.morph and again.encode == request.encode and again.model == request.model
    assert config_to_dict(again.pixelate) == config_to_dict(request.pixelate)
    data["pixelate"]["palette"] = [[1, 2, 3], [4, 5, 6]]  # an uploaded palette, kept as its colours
    form, _, _ = settings_to_form(data)
    assert form["palette_colours"] == [[1, 2, 3], [4, 5, 6]]
    with pytest.raises(ValueError, match="fewer than two prompts"):
        settings_to_form({**data, "morph": {"prompts": ["a"]}})


def test_viewer_and_swatches_html():
    from pixelgif.web.form import palette_preview
    from pixelgif.web.viewer import swatches_html, viewer_html

    frames = [Image.new("RGBA", (8, 6), (i * 40, 0, 0, 255)) for i in range(4)]
    page = viewer_html(frames, [100, 100, 100, 300], keyframes=[0, -1], title="a → b")
    assert page.count('class="pg-key"') == 2 and page.count("data:image/png;base64,") == 5  # 4 thumbnails + stage
    assert "--pg-aspect: 8 / 6" in page and "[100, 100, 100, 300]" in page and 'aria-label="Next frame"' in page
    colours, note = palette_preview("pico-8")
    assert len(colours) == 16 and "16 colours" in note
    assert swatches_html(colours, note).count('class="pg-swatch"') == 16
    assert palette_preview("fitted") == (None, "fitted: the colours are picked from the frames")


def test_output_names_come_from_the_prompts_and_history_is_kept(tmp_path):
    from pixelgif.web.studio import HISTORY, output_stem

    assert output_stem(["a red apple", "The blue whale!"]) == "red-apple-to-blue-whale"
    assert output_stem(["", "  "]) == "morph" and len(output_stem(["word " * 40, "b"])) <= 60
    studio = Studio(root=tmp_path)
    for _ in range(HISTORY + 2):
        with studio.run_folder("s", "morph", keep=HISTORY) as folder:
            (folder / "x.gif").write_bytes(b"x")
    with studio.run_folder("s", "preview"):
        pass
    assert len(list(tmp_path.glob("s/morph-*"))) == HISTORY and len(list(tmp_path.glob("s/preview-*"))) == 1


def _png_header(width: int, height: int) -> bytes:
    """Return a PNG that declares ``width`` x ``height`` pixels and holds none (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


def test_keyframe_uploads_are_checked_before_anything_opens_them(tmp_path):
    """Issue 25: a text file named .png or a 14000x14000 PNG reached gradio's preprocess and stuck the page."""
    from pixelgif.morph.keyframes import read_keyframe_image

    limits = Limits(max_resolution=8, max_upload_bytes=2000)  # at most 8 * 8 * 16 = 1024 pixels
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(14000, 14000))
    wide = tmp_path / "wide.png"
    Image.new("RGBA", (64, 64), (255, 0, 0, 255)).save(wide)
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(big)
    sprite = tmp_path / "sprite.png"
    Image.new("RGBA", (32, 32), (255, 0, 0, 255)).save(sprite)
    for path, message in ((notes, "'notes.png' is not an image"), (bomb, "too many pixels"),
                          (wide, "64x64 pixels, too many"), (big, "the server accepts up to 2,000")):  # fmt: skip
        with pytest.raises(PixelgifError, match=message):
            check_keyframe_upload(path, limits)
    assert check_keyframe_upload(sprite, limits) == sprite
    with pytest.raises(PixelgifError, match="too many pixels"):  # the CLI's reader says it too, no traceback
        read_keyframe_image(bomb)


def test_a_settings_link_round_trips_and_a_damaged_one_is_one_message(tmp_path):
    from urllib.parse import parse_qs

    from pixelgif.web.share import link_query, settings_from_link

    data = {"morph": {"prompts": ["a café", "b"], "seeds": [0, 7]}, "run": {"source": "web"}, "versions": {}}
    value = parse_qs(link_query(data)[1:])["settings"][0]
    written = settings_from_link(value, tmp_path / "link")
    assert json.loads(written.read_text()) == {"morph": data["morph"]}  # where and with what: left out
    for bad in ("not-base64!", "W10", "x" * 70_000):  # W10: a JSON list, not settings
        with pytest.raises(PixelgifError, match="link's settings"):
            settings_from_link(bad, tmp_path / "bad")
