"""`pixelgif serve` for real: one server subprocess with the bundled model, driven through
headless Chromium (Playwright) and through gradio_client. Skips only when gradio, Playwright or
/usr/bin/chromium is missing (.ci/run installs them)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelgif.web.form import formats

pytest.importorskip("gradio", reason="the web UI needs gradio: pip install -e '.[web]'")
gradio_client = pytest.importorskip("gradio_client", reason="needs gradio_client: pip install -e '.[dev]'")

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"  # gitignored; the browser test leaves its screenshot here
MAX_FRAMES = 60
FAST = {"Steps (blank: model default)": 4}  # few denoising steps: seconds per morph on a busy CPU


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pixelgif serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"pixelgif serve did not answer within {timeout} s:\n{log.read_text()}")


SERVER: tuple[subprocess.Popen, Path] | None = None  # the serve process and its log, while it runs


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Yield (url, process, temp dir) of a `pixelgif serve` subprocess; on exit check it cleaned up."""
    tmp = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    log = tmp / "server.log"
    command = [sys.executable, "-m", "pixelgif", "serve", "--port", str(port), "--max-frames", str(MAX_FRAMES),
               "--max-upload-size", "2"]  # fmt: skip
    with open(log, "w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    global SERVER
    SERVER = (process, log)
    try:
        _wait_until_up(url, process, log)
        yield url, process, tmp
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    SERVER = None
    assert "Traceback" not in log.read_text(), log.read_text()
    assert not list(tmp.glob("pixelgif-serve-*")), "the per-session folders outlived the server"


@pytest.fixture(scope="module")
def client(server):
    return gradio_client.Client(server[0], verbose=False)


def call(client, api_name: str, **by_label):
    """Return client.predict(...) of ``api_name`` with the page's defaults, changed by component label."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]["parameters"]
    args = [by_label.pop(p["label"], p.get("parameter_default")) for p in params]
    assert not by_label, f"no such fields: {list(by_label)}"
    return args


def predict(client, api_name: str, **by_label):
    return client.predict(*call(client, api_name, **by_label), api_name=api_name)


def _frames(path) -> list[np.ndarray]:
    with Image.open(path) as image:
        frames = []
        for i in range(image.n_frames):
            image.seek(i)
            frames.append(np.asarray(image.convert("RGBA")))
        return frames


def _sync_api():
    if not Path(CHROMIUM).exists():
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does)"
        if os.environ.get("PIXELGIF_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def browser():
    """Yield one headless Chromium for the module's page tests."""
    sync_api = _sync_api()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def page(browser, server):
    """Yield a fresh studio page (1400x1000) that records HTTP errors in ``page.failures``."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.failures = []
    page.on("response", lambda r: r.status >= 500 and page.failures.append(f"{r.status} {r.url}"))
    page.goto(server[0])
    page.get_by_role("button", name="Remove keyframe 1").wait_for()  # the page script labelled the buttons
    yield page
    page.close()


def expect():
    return _sync_api().expect


def _no_error_badges(page) -> None:
    """The page shows no "Error" badge and no request failed with a server error."""
    expect()(page.get_by_text("Error", exact=True)).to_have_count(0)
    assert page.failures == []


def _status(page, kind: str, text: str, timeout: float = 120_000) -> None:
    status = page.locator(f"#status [data-status={kind}]")
    try:
        expect()(status).to_contain_text(text, timeout=timeout)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\nthe server's threads:\n{_server_stacks()}") from None


def _server_stacks() -> str:
    """Return the serve process's thread stacks (it prints them on SIGUSR1) from its log."""
    if SERVER is None or not hasattr(signal, "SIGUSR1"):
        return "(unavailable)"
    process, log = SERVER
    process.send_signal(signal.SIGUSR1)
    time.sleep(2)
    return log.read_text()[-8000:]


def _fill(page, **fields) -> None:
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(str(value))


def _morph(page, frames: int = 2) -> None:
    _fill(page, **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale", "Frames per transition": frames}, **FAST)
    page.get_by_role("button", name="Morph", exact=True).click()
    _status(page, "done", f"{frames + 1} frames")


def test_browser_morph_and_download(server, page, tmp_path):
    expect_ = expect()
    # Bad input: one clear message in the status line, and the page stays usable (the morph below works).
    page.get_by_role("button", name="Morph", exact=True).click()
    _status(page, "error", "prompt 1 is empty; every keyframe needs a prompt")
    _no_error_badges(page)
    page.get_by_label("Prompt 1").fill("a red apple")
    page.get_by_label("Prompt 2").fill("a blue whale")
    # Storyboard: add a keyframe and remove it again; lock seed 1 and re-roll the others.
    page.get_by_role("button", name="Add keyframe").click()
    page.get_by_label("Prompt 3").fill("a green frog")
    expect_(page.get_by_role("button", name="Remove keyframe 3")).to_have_attribute("title", "Remove keyframe 3")
    page.get_by_role("button", name="Remove keyframe 3").click()
    expect_(page.get_by_label("Prompt 3")).to_be_hidden()
    expect_(page.get_by_label("Prompt 2")).to_have_value("a blue whale")
    page.get_by_label("Lock seed 1").check()
    page.get_by_role("button", name="Re-roll unlocked seeds").click()
    expect_(page.get_by_label("Seed 2", exact=True)).not_to_have_value("1")
    expect_(page.get_by_label("Seed 1", exact=True)).to_have_value("0")
    _fill(page, **{"Frames per transition": 3}, **FAST)
    page.get_by_label("Prompt 2").press("Enter")  # Enter in a prompt previews the keyframes
    expect_(page.locator("#keyframes img")).to_have_count(2, timeout=120_000)
    page.get_by_role("button", name="Morph", exact=True).click()
    download_gif = page.get_by_role("button", name="Download GIF")
    download_gif.wait_for(state="visible", timeout=120_000)
    with page.expect_download() as info:
        download_gif.click()
    gif = tmp_path / "downloaded.gif"
    info.value.save_as(gif)
    assert info.value.suggested_filename.startswith("red-apple-to-blue-whale")  # named from the prompts
    # The result is drawn crisp: the browser must not smooth the upscaled pixels.
    frame = page.locator("#viewer img.pg-frame")
    assert frame.evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"
    expect_(page.locator("#viewer .pg-strip img")).to_have_count(4)
    sessions = list(server[2].glob("pixelgif-serve-*/*"))
    assert len(sessions) == 1  # this page's session folder
    page.close()
    deadline = time.monotonic() + 60
    while sessions[0].exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not sessions[0].exists(), "closing the tab did not remove its session folder"
    frames = _frames(gif)
    assert len(frames) == 4  # 2 prompts, 3 frames per transition: (2 - 1) * 3 + 1
    assert frames[0].shape == (256, 256, 4) and not np.array_equal(frames[0], frames[-1])


def test_browser_storyboard_limits_are_no_errors(page):
    """Issue 17: ✕ at two keyframes and Add at eight gave an HTTP 500 and "Error" badges on every slot."""
    expect_ = expect()
    expect_(page.get_by_role("button", name="Remove keyframe 1")).to_be_disabled()  # two keyframes: none may go
    add = page.get_by_role("button", name="Add keyframe")
    for n in range(3, 9):
        add.click()
        expect_(page.get_by_label(f"Prompt {n}", exact=True)).to_be_visible()
    expect_(add).to_be_disabled()
    expect_(page.get_by_role("button", name="Remove keyframe 8")).to_be_enabled()
    # Forced past the disabled state, the edits are refused with a line under the board, not an error.
    for name in ("Add keyframe",):
        page.get_by_role("button", name=name).evaluate("b => { b.disabled = false; b.click(); }")
    expect_(page.locator("#board-status")).to_contain_text("at most 8 keyframes")
    _no_error_badges(page)
    page.get_by_label("Prompt 8", exact=True).fill("eight")
    page.get_by_role("button", name="Move keyframe 8 up").click()
    expect_(page.get_by_label("Prompt 7", exact=True)).to_have_value("eight")
    for n in range(8, 2, -1):
        page.get_by_role("button", name=f"Remove keyframe {n}").click()
        expect_(page.get_by_label(f"Prompt {n}", exact=True)).to_be_hidden()
    remove = page.get_by_role("button", name="Remove keyframe 2")
    expect_(remove).to_be_disabled()
    remove.evaluate("b => { b.disabled = false; b.click(); }")
    expect_(page.locator("#board-status")).to_contain_text("at least 2 keyframes")
    _no_error_badges(page)
    expect_(page.get_by_label("Prompt 2", exact=True)).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio_storyboard_1400.png"))


def test_browser_refused_runs_keep_the_previous_result(page):
    """Issue 17: a refused Morph or Preview replaced the result with "Error" badges; 2.5 frames was rounded."""
    expect_ = expect()
    _morph(page)
    before = page.locator("#viewer .pg-strip img").first.get_attribute("src")  # the viewer plays: frame 1
    for fields, message in (
        ({"Frames per transition": "2.5"}, "frames must be a whole number, got '2.5'"),
        ({"Frames per transition": MAX_FRAMES + 1}, "too many frames"),
        ({"Frames per transition": 2, "Prompt 2": ""}, "prompt 2 is empty"),
    ):
        _fill(page, **fields)
        page.get_by_role("button", name="Morph", exact=True).click()
        _status(page, "error", message)
        _no_error_badges(page)
        assert page.locator("#viewer .pg-strip img").first.get_attribute("src") == before
        expect_(page.get_by_role("button", name="Download GIF")).to_be_visible()
    page.get_by_role("button", name="Preview keyframes").click()
    _status(page, "error", "prompt 2 is empty")
    _no_error_badges(page)
    expect_(page.get_by_label("Prompt 2", exact=True)).to_have_attribute("placeholder", "(empty) keyframe 2")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio_refused_1400.png"))


def test_browser_viewer_fits_the_panel_at_scale_1(page):
    """Issue 17: with upscale 1 the result was a 32 px picture; the viewer zooms it to the panel."""
    expect_ = expect()
    page.get_by_text("Output", exact=True).click()
    page.get_by_label("Upscale of the files (auto: back to render size)").click()
    page.get_by_role("option", name="1", exact=True).click()
    _morph(page, frames=3)
    frame = page.locator("#viewer img.pg-frame")
    natural, shown, rendering = frame.evaluate(
        "i => [i.naturalWidth, i.getBoundingClientRect().width, getComputedStyle(i).imageRendering]"
    )
    assert natural == 32 and shown >= 300 and rendering == "pixelated"
    assert "pg-checker" in (page.locator("#viewer .pg-stage").get_attribute("class") or "")
    viewer = page.locator("#viewer .pg-viewer")
    viewer.get_by_role("button", name="Pause").click()
    viewer.locator(".pg-strip img").nth(3).click()
    expect_(viewer).to_have_attribute("data-frame", "3")
    viewer.get_by_role("button", name="Next frame").click()
    expect_(viewer).to_have_attribute("data-frame", "0")
    expect_(viewer.locator(".pg-strip img.pg-key")).to_have_count(2)
    summary = page.locator("#summary").inner_text()
    assert "32x32 px" in summary  # the file is written at scale 1; only the view is zoomed
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio_viewer_scale1_1400.png"))
    page.set_viewport_size({"width": 800, "height": 1000})
    frame.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "studio_viewer_scale1_800.png"))


def test_browser_cancel_says_cancelled(page):
    expect_ = expect()
    cancel = page.get_by_role("button", name="Cancel", exact=True)
    expect_(cancel).to_be_disabled()  # nothing runs yet
    _fill(page, **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale", "Frames per transition": MAX_FRAMES - 1,
                   "Steps (blank: model default)": 200})  # fmt: skip
    page.get_by_role("button", name="Morph", exact=True).click()
    expect_(cancel).to_be_enabled()
    expect_(page.locator("#status")).to_contain_text("rendering 60 frames", timeout=60_000)
    cancel.click()
    _status(page, "cancelled", "Cancelled")
    expect_(cancel).to_be_disabled()
    _no_error_badges(page)
    _morph(page)  # the page still renders, once the cancelled render has stopped


def test_browser_image_keyframe_moves_with_its_slot_and_morphs(page, tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_image_keyframe_example import caterpillar

    expect_ = expect()
    sprite = tmp_path / "caterpillar.png"
    caterpillar().save(sprite)
    page.locator("#kf-1-image input[type=file]").set_input_files(str(sprite))
    expect_(page.locator("#kf-1-image img")).to_have_count(1, timeout=30_000)
    page.locator("#kf-1-down").click()  # the image travels with its keyframe
    expect_(page.locator("#kf-2-image img")).to_have_count(1, timeout=30_000)
    expect_(page.locator("#kf-1-image img")).to_have_count(0)
    _fill(page, **{"Prompt 1": "a red apple", "Prompt 2": "", "Frames per transition": 2}, **FAST)
    page.get_by_role("button", name="Morph", exact=True).click()
    _status(page, "done", "3 frames")
    _no_error_badges(page)


def test_browser_loads_a_settings_json(page, client, tmp_path):
    expect_ = expect()
    *_, settings, _summary, _report = predict(client, "/morph", **{"Prompt 1": "a lighthouse", "Prompt 2": "a moon",
                                              "Seed 2": 7, "Frames per transition": 2, "Colours (blank: 16, or every colour of the palette)": 6,
                                              "Palette (fitted or built-in)": "pico-8"}, **FAST)  # fmt: skip
    page.get_by_label("Prompt 1").fill("something else")
    data = json.loads(Path(settings["value"]).read_text())
    small = tmp_path / "lighthouse.json"  # the server takes uploads up to 2 KB (--max-upload-size 2)
    small.write_text(json.dumps({k: v for k, v in data.items() if k not in ("run", "versions")}, separators=(",", ":")))
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Load settings JSON").click()
    chooser.value.set_files(str(small))
    expect_(page.locator("#board-status")).to_contain_text("Loaded", timeout=60_000)
    expect_(page.get_by_label("Prompt 1", exact=True)).to_have_value("a lighthouse")
    expect_(page.get_by_label("Prompt 2", exact=True)).to_have_value("a moon")
    expect_(page.get_by_label("Seed 2", exact=True)).to_have_value("7")
    expect_(page.get_by_label("Lock seed 2")).to_be_checked()
    expect_(page.get_by_label("Frames per transition")).to_have_value("2")
    expect_(page.get_by_label("Steps (blank: model default)")).to_have_value("4")
    expect_(page.get_by_label("Colours (blank: 16, or every colour of the palette)")).to_have_value("6")
    expect_(page.locator("#swatches .pg-swatch")).to_have_count(16)  # pico-8's colours
    bad = tmp_path / "notes.json"
    bad.write_text("{}")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Load settings JSON").click()
    chooser.value.set_files(str(bad))
    expect_(page.locator("#board-status")).to_contain_text("not a pixelgif settings file", timeout=60_000)
    expect_(page.get_by_label("Prompt 1", exact=True)).to_have_value("a lighthouse")
    _no_error_badges(page)


@pytest.mark.parametrize("width", [1400, 800])
def test_browser_screenshots(page, width):
    """Screenshots of a finished morph for a person to look at (artifacts/, gitignored)."""
    page.set_viewport_size({"width": width, "height": 1000})
    page.get_by_role("button", name="Add keyframe").click()
    page.get_by_label("Prompt 3", exact=True).fill("a green frog")
    _fill(page, **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale", "Frames per transition": 2}, **FAST)
    page.get_by_role("button", name="Morph", exact=True).click()
    _status(page, "done", "5 frames")
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"studio_{width}.png"))
    page.screenshot(path=str(ARTIFACTS / f"studio_{width}_full.png"), full_page=True)


def test_api_morph_writes_every_format_and_settings(client, tmp_path):
    result, *downloads, settings, summary, report = predict(client, "/morph", **{"Prompt 1": "a red apple",
                                                    "Prompt 2": "a blue whale", "Frames per transition": 2}, **FAST)  # fmt: skip
    assert len(_frames(result)) == 3 and "3 frames" in summary
    if importlib.util.find_spec("pixelgif.morph.quality") and importlib.util.find_spec("matplotlib"):
        assert "smoothness" in summary and report.get("visible")  # the smoothness report plot
        with Image.open(report["value"]) as plot:
            assert plot.format == "PNG"
    files = [d["value"] for d in downloads if d.get("visible")]
    suffixes = {Path(f).suffix for f in files}
    assert {".gif", ".webp", ".png"} <= suffixes
    assert len(files) == len(formats())  # every format the encoder writes (MP4 through imageio-ffmpeg)

    data = json.loads(Path(settings["value"]).read_text())
    assert data["morph"]["prompts"] == ["a red apple", "a blue whale"] and data["morph"]["seeds"] == [0, 1]
    assert data["morph"]["steps"] == 4 and data["run"]["source"] == "web"
    # The settings file makes the same animation again from the command line.
    out = tmp_path / "again.gif"
    subprocess.run([sys.executable, "-m", "pixelgif", "morph", "--from", settings["value"], "-o", str(out), "-q"],
                   check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
    assert all(np.array_equal(a, b) for a, b in zip(_frames(out), _frames(result), strict=True))


def test_api_morph_from_an_uploaded_sprite(client, tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_image_keyframe_example import caterpillar

    sprite = tmp_path / "caterpillar.png"
    caterpillar().save(sprite)
    assert sprite.stat().st_size < 2000  # the test server takes uploads up to 2 KB
    result, *_, settings, summary, _report = predict(client, "/morph", **{
        "Image 1": gradio_client.handle_file(str(sprite)), "Prompt 1": "", "Prompt 2": "a blue whale",
        "Frames per transition": 2}, **FAST)  # fmt: skip
    assert "3 frames" in summary
    first = _frames(result)[0]
    first = first[:: first.shape[0] // 32, :: first.shape[1] // 32]  # written at the page's upscale
    expected = np.asarray(caterpillar().convert("RGBA"))
    visible = expected[..., 3] > 0
    assert np.array_equal(first[..., 3] > 0, visible) and np.array_equal(first[visible, :3], expected[visible, :3])
    recorded = json.loads(Path(settings["value"]).read_text())["morph"]["prompts"][0]
    assert recorded["caption"] is None and Path(recorded["image"]).suffix == ".png"


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"Frames per transition": MAX_FRAMES + 1}, "too many frames"),
        ({"Prompt 2": "   "}, "prompt 2 is empty"),
        ({"Model (bundled, a preset, a hub id or a local path)": "/no/such/model"}, "model not found"),
        ({"Width (blank: model default)": 12}, "multiple of 8"),
    ],
)
def test_bad_input_is_one_clear_message(client, server, fields, message):
    before = sorted(p.name for p in server[2].rglob("*.gif"))
    with pytest.raises(gradio_client.exceptions.AppError, match=message) as error:
        predict(client, "/morph", **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale", **FAST, **fields})
    assert "\n" not in str(error.value) and "Traceback" not in str(error.value)
    assert sorted(p.name for p in server[2].rglob("*.gif")) == before  # nothing rendered
    assert server[1].poll() is None


def test_palette_uploads_are_checked(client, tmp_path):
    bad = tmp_path / "notes.gpl"
    bad.write_text("these are my notes, not a palette\n")
    with pytest.raises(gradio_client.exceptions.AppError, match="not a palette"):
        predict(client, "/preview", **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale",
                                       "or a palette file (.gpl/.hex/.pal/.png)": gradio_client.handle_file(bad)})  # fmt: skip
    kept, status, swatches = client.predict(gradio_client.handle_file(bad), api_name="/check_palette")
    assert kept is None and "not a palette" in status and 'class="pg-swatch"' not in swatches
    big = tmp_path / "big.hex"
    big.write_text("ff0000\n" * 1000)  # 7 KB, over --max-upload-size 2
    with pytest.raises(Exception, match=r"(?i)size|large|bytes"):
        predict(client, "/preview", **{"Prompt 1": "a", "Prompt 2": "b",
                                       "or a palette file (.gpl/.hex/.pal/.png)": gradio_client.handle_file(big)})  # fmt: skip
    good = tmp_path / "duo.hex"
    good.write_text("1a1c2c\nffcd75\n")
    gallery, summary = predict(client, "/preview", **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale", **FAST,
                                                      "or a palette file (.gpl/.hex/.pal/.png)": gradio_client.handle_file(good)})  # fmt: skip
    assert len(gallery) == 2 and "2 keyframes" in summary and "from the sprite library" in summary
    for item in gallery:
        colours = {tuple(c) for c in np.asarray(Image.open(item["image"]).convert("RGBA")).reshape(-1, 4) if c[3]}
        assert colours <= {(0x1A, 0x1C, 0x2C, 255), (0xFF, 0xCD, 0x75, 255)}


def test_cancel_stops_the_render(client):
    big = call(client, "/morph", **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale",
                                    "Frames per transition": MAX_FRAMES - 1, "Steps (blank: model default)": 200})  # fmt: skip
    job = client.submit(*big, api_name="/morph")
    deadline = time.monotonic() + 60
    while not (job.status().progress_data or job.done()) and time.monotonic() < deadline:
        time.sleep(0.2)
    progress = job.status().progress_data  # a fraction, and the frames that come out (not renders: issue 17)
    assert not job.done() and progress and 0 <= progress[0].progress <= 1
    assert progress[0].desc == f"rendering {MAX_FRAMES} frames"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "cancelling this job also cancels /preview": intended
        job.cancel()
    started = time.monotonic()
    result = predict(client, "/morph", **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale",
                                          "Frames per transition": 2}, **FAST)  # fmt: skip
    # Rendering the long morph would take minutes; the short one only waits for the first to stop.
    assert time.monotonic() - started < 30 and "3 frames" in result[-2]


def _png_header_only(width: int, height: int) -> bytes:
    """Return a PNG that declares ``width`` x ``height`` pixels with no pixel data: a decompression bomb's header."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _refused_keeps_the_page(page, message: str, kept_src: str | None) -> None:
    """One message in the status line, no "Error" badge or toast, Cancel off, Morph ready, the result kept."""
    expect_ = expect()
    _status(page, "error", message, timeout=60_000)
    _no_error_badges(page)
    expect_(page.get_by_role("button", name="Cancel", exact=True)).to_be_disabled()
    expect_(page.get_by_role("button", name="Morph", exact=True)).to_be_enabled()
    if kept_src is not None:
        assert page.locator("#viewer .pg-strip img").first.get_attribute("src") == kept_src
        expect_(page.get_by_role("button", name="Download GIF")).to_be_visible()


def test_browser_never_stuck_on_input_gradio_would_refuse(page, tmp_path):
    """Issue 25: Frames 0 or -5, 1e400, Steps 0, a text file named .png, a 14000x14000 PNG, an upload over
    the size limit and a .txt settings file each end as one status line, no "Error" badge, the page ready."""
    expect_ = expect()
    _morph(page)
    kept = page.locator("#viewer .pg-strip img").first.get_attribute("src")
    for fields, message in (
        ({"Frames per transition": 0}, "frames per transition must be a whole number from 2 to 1000, got 0"),
        ({"Frames per transition": -5}, "frames per transition must be a whole number from 2 to 1000, got -5"),
        ({"Frames per transition": "1e400"}, "frames must be a whole number, got '1e400'"),
        (
            {"Frames per transition": 2, "Steps (blank: model default)": 0},
            "steps must be a whole number from 1 to 1000, got 0",
        ),
        ({"Steps (blank: model default)": 4, "Seed 2": -5}, "each seed must be a whole number from 0"),
    ):
        _fill(page, **fields)
        page.get_by_role("button", name="Morph", exact=True).click()
        _refused_keeps_the_page(page, message, kept)
    _fill(page, **{"Seed 2": 1})
    # Uploads: checked as they arrive (cleared, one line), or in the browser before gradio sees them.
    notes = tmp_path / "notes.png"
    notes.write_text("these are my notes, not a picture\n")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(14000, 14000))
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 2000  # over the test server's --max-upload-size 2 (KB)
    for upload, message in ((notes, "'notes.png' is not an image"), (bomb, "too many pixels"),
                            (big, "big.png is 4,")):  # fmt: skip
        page.locator("#kf-1-image input[type=file]").set_input_files(str(upload))
        _refused_keeps_the_page(page, message, kept)
        expect_(page.locator("#kf-1-image img")).to_have_count(0)  # nothing left in the box
    text = tmp_path / "settings.txt"
    text.write_text("{}")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Load settings JSON", exact=True).click()
    chooser.value.set_files(str(text))
    _refused_keeps_the_page(page, "settings.txt is not a .json file", kept)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio_never_stuck_1400.png"))
    _morph(page)  # and the page still renders


def _outside(page, selector: str, width: int) -> list[str]:
    """Return the visible elements of ``selector`` that stick out of a ``width`` px wide viewport."""
    return page.locator(selector).evaluate_all(
        """(els, width) => els.filter((e) => e.offsetParent).map((e) => [e, e.getBoundingClientRect()])
             .filter(([e, r]) => r.left < 0 || r.right > width + 0.5)
             .map(([e, r]) => (e.id || e.getAttribute("aria-label") || e.textContent.trim()) + " " + r.left + ".." + r.right)""",
        width,
    )


def test_browser_phone_layout(page):
    """Issue 25: at 390x844 the storyboard rows ran 624 px wide, out of reach; the result stayed far below."""
    expect_ = expect()
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="Add keyframe").click()
    expect_(page.get_by_label("Prompt 3", exact=True)).to_be_visible()
    controls = "#actions button, .kf-row button, .kf-row input, .kf-row textarea, .kf-image"
    assert _outside(page, controls, 390) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing to scroll sideways to
    bar = page.locator("#actions").bounding_box()
    assert bar is not None and bar["height"] <= 64  # the pinned bar leaves the page most of the screen
    page.get_by_role("button", name="Remove keyframe 3").click()  # a button of the row is reachable
    expect_(page.get_by_label("Prompt 3", exact=True)).to_be_hidden()
    _morph(page)
    # The result is scrolled into view: the status line and the viewer's frame are on screen.
    frame = page.locator("#viewer img.pg-frame")
    expect_(frame).to_be_in_viewport()
    expect_(page.locator("#status")).to_be_in_viewport()
    assert _outside(page, "#viewer button, #viewer input", 390) == []
    clipped = page.locator("#viewer button").evaluate_all("els => els.filter((b) => b.scrollWidth > b.clientWidth + 1)")
    assert clipped == []  # "Pre", "Paus": labels cut off
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio_phone_390.png"))


def test_browser_viewer_zoom_grid_onion_speed_palette_and_keys(page):
    """Issue 25: whole zooms with a pixel grid, onion skin, a speed that re-times in the browser, the fitted
    palette's swatches after a run, and the keys: Ctrl+Enter morphs, Escape cancels, Space/arrows in the viewer."""
    expect_ = expect()
    _fill(page, **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale", "Frames per transition": 3}, **FAST)
    page.get_by_label("Prompt 2", exact=True).press("Control+Enter")  # morphs; a plain Enter would preview
    _status(page, "done", "4 frames")
    expect_(page.locator("#keyframes")).to_be_hidden()  # no preview ran
    viewer = page.locator("#viewer .pg-viewer")
    viewer.evaluate("v => { v.marked = true; }")  # the same element after every view change: nothing re-rendered
    frame = page.locator("#viewer img.pg-frame")
    natural = frame.evaluate("i => i.naturalWidth")
    fit = frame.evaluate("i => i.getBoundingClientRect().width")
    assert fit >= 300 and fit % natural == 0  # fit: the largest whole zoom, every art pixel the same size
    for zoom in (1, 2, 4, 8):
        viewer.locator(".pg-zoom").select_option(str(zoom))
        expect_(viewer).to_have_attribute("data-scale", str(zoom))
        assert frame.evaluate("i => i.getBoundingClientRect().width") == natural * zoom
    viewer.locator(".pg-zoom").select_option("4")
    grid = viewer.locator(".pg-grid")
    expect_(grid).to_be_hidden()
    viewer.get_by_label("Grid").check()
    expect_(grid).to_be_visible()
    assert (
        grid.evaluate("g => getComputedStyle(g).backgroundSize") == "4px 4px, 4px 4px"
    )  # one cell per art pixel (both line sets)
    # Keys in the viewer: Space pauses, the arrows step (and wrap around).
    viewer.focus()
    page.keyboard.press(" ")
    expect_(viewer).to_have_attribute("data-playing", "0")
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    expect_(viewer).to_have_attribute("data-frame", "1")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect_(viewer).to_have_attribute("data-frame", "3")
    # Onion skin: the previous frame, faint, over the current one.
    onion = viewer.locator("img.pg-onion")
    expect_(onion).to_be_hidden()
    viewer.get_by_label("Onion skin").check()
    expect_(onion).to_be_visible()
    thumbs = viewer.locator(".pg-strip img")
    assert onion.get_attribute("src") == thumbs.nth(2).get_attribute("src")
    assert float(onion.evaluate("i => getComputedStyle(i).opacity")) < 1
    # Speed: the frame's delay is its duration divided by the speed; the file's timing is untouched.
    duration = json.loads(viewer.get_attribute("data-durations") or "[]")[3]
    viewer.get_by_label("Playback speed").select_option("2")
    expect_(viewer).to_have_attribute("data-delay", str(round(duration / 2)))
    viewer.get_by_label("Playback speed").select_option("0.5")
    expect_(viewer).to_have_attribute("data-delay", str(round(duration * 2)))
    viewer.focus()  # (Space on a focused checkbox toggles the checkbox)
    page.keyboard.press(" ")  # plays at the new speed
    expect_(viewer).not_to_have_attribute("data-frame", "3", timeout=10_000)
    assert viewer.evaluate("v => v.marked") is True
    # The fitted palette: the colours the frames use, as swatches, after the run.
    swatches = viewer.locator(".pg-palette .pg-swatch")
    count = swatches.count()
    assert 2 <= count <= 16  # the default 16 colours, fitted to the frames
    expect_(viewer.locator(".pg-palette")).to_contain_text(f"{count} colours in the frames")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio_viewer_zoom4_grid_onion_1400.png"))
    # Escape cancels a render.
    _fill(page, **{"Frames per transition": MAX_FRAMES - 1, "Steps (blank: model default)": 200})
    page.get_by_label("Prompt 1", exact=True).press("Control+Enter")
    expect_(page.locator("#status")).to_contain_text("rendering 60 frames", timeout=60_000)
    page.keyboard.press("Escape")
    _status(page, "cancelled", "Cancelled")
    _no_error_badges(page)
    assert viewer.evaluate("v => v.marked") is True  # the last result is still shown


def test_browser_status_says_queued_and_rendering(browser, server, page):
    """Issue 25: every run said "waiting for the model on the first run", also when queued behind another tab."""
    expect_ = expect()
    other = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        other.goto(server[0])
        other.get_by_role("button", name="Remove keyframe 1").wait_for()
        # A render long enough to queue behind, short enough to finish: cancelling a running render is
        # test_browser_cancel_says_cancelled's; here the queued run is cancelled and the first one ends.
        _fill(other, **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale", "Frames per transition": 6,
                        "Steps (blank: model default)": 40})  # fmt: skip
        other.get_by_role("button", name="Morph", exact=True).click()
        expect_(other.locator("#status")).to_contain_text("rendering 7 frames", timeout=60_000)
        _fill(page, **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale", "Frames per transition": 2}, **FAST)
        page.get_by_role("button", name="Morph", exact=True).click()
        _status(page, "busy", "Morphing: queued: another render is running")
        expect_(page.locator("#status")).to_contain_text("queue: 1/1")  # gradio's position, under the line
        line, tracker = (page.locator(f"#status {s}").bounding_box() for s in ("[data-status]", ".progress-text"))
        assert line and tracker and tracker["y"] >= line["y"] + line["height"]  # under it, not over it
        page.get_by_role("button", name="Cancel", exact=True).click()
        _status(other, "done", "Done")
        _status(page, "cancelled", "Cancelled")
        _no_error_badges(page)
    finally:
        other.close()
    _morph(page)  # the model is loaded and nothing else runs: it starts at once


def test_browser_copy_settings_and_a_link_that_reopens_them(browser, server, page):
    """Issue 25: settings could only be downloaded; now copied, or a link that opens the page with them."""
    expect_ = expect()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _fill(page, **{"Seed 2": 7, "Colours (blank: 16, or every colour of the palette)": 6})
    _morph(page)
    share = page.locator("#viewer .pg-share")
    share.get_by_role("button", name="Copy settings").click()
    expect_(share.locator(".pg-share-note")).to_have_text("Copied.")
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["morph"]["prompts"] == ["a red apple", "a blue whale"] and copied["morph"]["seeds"] == [0, 7]
    assert "run" in copied  # the whole settings file, as `pixelgif morph --from` takes it
    share.get_by_role("button", name="Copy link").click()
    link = page.evaluate("navigator.clipboard.readText()")
    assert link.startswith(server[0] + "?settings=")
    other = browser.new_page(viewport={"width": 1400, "height": 1000})
    other.failures = []
    other.on("response", lambda r: r.status >= 500 and other.failures.append(f"{r.status} {r.url}"))
    try:
        other.goto(link)
        _status(other, "info", "Loaded", timeout=60_000)
        expect_(other.get_by_label("Prompt 1", exact=True)).to_have_value("a red apple")
        expect_(other.get_by_label("Seed 2", exact=True)).to_have_value("7")
        expect_(other.get_by_label("Lock seed 2")).to_be_checked()
        expect_(other.get_by_label("Frames per transition")).to_have_value("2")
        expect_(other.get_by_label("Steps (blank: model default)")).to_have_value("4")
        expect_(other.get_by_label("Colours (blank: 16, or every colour of the palette)")).to_have_value("6")
        other.goto(server[0] + "?settings=not-base64!")  # a damaged link: one line, the page as usual
        _status(other, "error", "Not loaded: the link's settings are damaged")
        expect_(other.get_by_label("Prompt 1", exact=True)).to_have_value("")
        _no_error_badges(other)
    finally:
        other.close()


def test_browser_history_restores_a_past_morph(page, tmp_path):
    """Issue 25: the history was capped at 4 pictures and a past run could not come back."""
    expect_ = expect()
    _morph(page)  # a red apple -> a blue whale
    first = page.locator("#viewer .pg-strip img").first.get_attribute("src")
    _fill(page, **{"Prompt 1": "a green frog", "Prompt 2": "a yellow star", "Seed 2": 5})
    page.get_by_role("button", name="Morph", exact=True).click()
    _status(page, "done", "3 frames")
    expect_(page.locator("#history img")).to_have_count(2, timeout=30_000)
    assert page.locator("#viewer .pg-strip img").first.get_attribute("src") != first
    page.locator("#history img").nth(1).click()  # the older one (newest first)
    _status(page, "done", "Restored: a red apple → a blue whale")
    expect_(page.locator("#viewer .pg-strip img").first).to_have_attribute("src", first)
    # drawn, not an empty panel: gradio patches the new viewer into the old element, which starts afresh
    expect_(page.locator("#viewer .pg-viewer")).to_have_attribute("data-scale", re.compile(r"^[1-9]"))
    assert page.locator("#viewer img.pg-frame").evaluate("i => i.getBoundingClientRect().width") >= 300
    expect_(page.get_by_label("Prompt 1", exact=True)).to_have_value("a red apple", timeout=30_000)
    expect_(page.get_by_label("Seed 2", exact=True)).to_have_value("1")
    expect_(page.locator("#summary")).to_contain_text("3 frames")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download GIF").click()
    assert info.value.suggested_filename.startswith("red-apple-to-blue-whale")  # its own files
    _no_error_badges(page)
    ARTIFACTS.mkdir(exist_ok=True)
    expect_(page.locator("#viewer .pg-share")).to_be_visible()  # Copy settings / Copy link of that run
    page.locator("#viewer").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "studio_history_restored_1400.png"))
    _morph(page)  # the restored form renders again
