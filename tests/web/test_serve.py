"""`pixelgif serve` for real: one server subprocess with the bundled model, driven through
headless Chromium (Playwright) and through gradio_client. Skips only when gradio, Playwright or
/usr/bin/chromium is missing (.ci/run installs them)."""

from __future__ import annotations

import importlib.util
import os
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

from pixelgif.morph.spacing import render_budget
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
    try:
        _wait_until_up(url, process, log)
        yield url, process, tmp
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
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


def test_browser_morph_and_download(server, tmp_path):
    if not Path(CHROMIUM).exists():
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does)"
        if os.environ.get("PIXELGIF_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install -e '.[dev]'")
    url = server[0]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
            page.goto(url)
            expect = sync_api.expect
            # Bad input: one clear message, and the page stays usable (the morph below works).
            page.get_by_role("button", name="Morph", exact=True).click()
            expect(page.get_by_text("prompt 1 is empty; every keyframe needs a prompt")).to_have_count(1)
            page.get_by_label("Prompt 1").fill("a red apple")
            page.get_by_label("Prompt 2").fill("a blue whale")
            # Storyboard: add a keyframe and remove it again; lock seed 1 and re-roll the others.
            page.get_by_role("button", name="Add keyframe").click()
            page.get_by_label("Prompt 3").fill("a green frog")
            page.get_by_role("button", name="✕").nth(2).click()
            expect(page.get_by_label("Prompt 3")).to_be_hidden()
            expect(page.get_by_label("Prompt 2")).to_have_value("a blue whale")
            page.get_by_label("Lock seed 1").check()
            page.get_by_role("button", name="Re-roll unlocked seeds").click()
            expect(page.get_by_label("Seed 2", exact=True)).not_to_have_value("1")
            expect(page.get_by_label("Seed 1", exact=True)).to_have_value("0")
            page.get_by_label("Frames per transition").fill("3")
            page.get_by_label("Steps (blank: model default)").fill("4")
            page.get_by_role("button", name="Preview keyframes").click()
            expect(page.locator("#keyframes img")).to_have_count(2, timeout=120_000)
            page.get_by_role("button", name="Morph", exact=True).click()
            download_gif = page.get_by_role("button", name="Download GIF")
            download_gif.wait_for(state="visible", timeout=120_000)
            with page.expect_download() as info:
                download_gif.click()
            gif = tmp_path / "downloaded.gif"
            info.value.save_as(gif)
            # The result is drawn crisp: the browser must not smooth the upscaled pixels.
            result = page.locator("#result img")
            assert result.evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "serve_morph.png"), full_page=True)
            sessions = list(server[2].glob("pixelgif-serve-*/*"))
            assert len(sessions) == 1  # this page's session folder
            page.close()
            deadline = time.monotonic() + 60
            while sessions[0].exists() and time.monotonic() < deadline:
                time.sleep(0.5)
            assert not sessions[0].exists(), "closing the tab did not remove its session folder"
        finally:
            browser.close()
    frames = _frames(gif)
    assert len(frames) == 4  # 2 prompts, 3 frames per transition: (2 - 1) * 3 + 1
    assert frames[0].shape == (256, 256, 4) and not np.array_equal(frames[0], frames[-1])


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
    import json

    data = json.loads(Path(settings["value"]).read_text())
    assert data["morph"]["prompts"] == ["a red apple", "a blue whale"] and data["morph"]["seeds"] == [0, 1]
    assert data["morph"]["steps"] == 4 and data["run"]["source"] == "web"
    # The settings file makes the same animation again from the command line.
    out = tmp_path / "again.gif"
    subprocess.run([sys.executable, "-m", "pixelgif", "morph", "--from", settings["value"], "-o", str(out), "-q"],
                   check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
    assert all(np.array_equal(a, b) for a, b in zip(_frames(out), _frames(result), strict=True))


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
    kept, status = client.predict(gradio_client.handle_file(bad), api_name="/check_palette")
    assert kept is None and "not a palette" in status
    big = tmp_path / "big.hex"
    big.write_text("ff0000\n" * 1000)  # 7 KB, over --max-upload-size 2
    with pytest.raises(Exception, match=r"(?i)size|large|bytes"):
        predict(client, "/preview", **{"Prompt 1": "a", "Prompt 2": "b",
                                       "or a palette file (.gpl/.hex/.pal/.png)": gradio_client.handle_file(big)})  # fmt: skip
    good = tmp_path / "duo.hex"
    good.write_text("1a1c2c\nffcd75\n")
    gallery, summary = predict(client, "/preview", **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale", **FAST,
                                                      "or a palette file (.gpl/.hex/.pal/.png)": gradio_client.handle_file(good)})  # fmt: skip
    assert len(gallery) == 2 and "2 keyframes" in summary
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
    progress = job.status().progress_data  # the progress bar's data: frames rendered of what even spacing may render
    assert not job.done() and progress and progress[0].unit == "frames"
    assert MAX_FRAMES <= progress[0].length <= render_budget(MAX_FRAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "cancelling this job also cancels /preview": intended
        job.cancel()
    started = time.monotonic()
    result = predict(client, "/morph", **{"Prompt 1": "a red apple", "Prompt 2": "a blue whale",
                                          "Frames per transition": 2}, **FAST)  # fmt: skip
    # Rendering the long morph would take minutes; the short one only waits for the first to stop.
    assert time.monotonic() - started < 30 and "3 frames" in result[-2]
