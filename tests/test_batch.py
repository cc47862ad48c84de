"""`pixelgif batch` on the tiny Stable Diffusion: the same files as one `pixelgif morph` per job, two
processes (torchrun, gloo) sharing the jobs, SIGKILL and resume, bad lines, the gallery in Chromium."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixelgif.batch import read_jobs
from pixelgif.cli import main
from pixelgif.options import MODEL_OPTIONS, OPTIONS

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
COMMON = ["--steps", "2", "--spacing", "linear", "-q"]  # with --model TINY; --frames 3 unless a job sets frames
SAVED = {"format": "pixelgif-settings", "version": 2, "morph": {"prompts": ["a tree", "a rock"], "seed": 5, "frames": 2},
         "encode": {"duration": 50}, "output": "elsewhere/saved.gif"}  # fmt: skip
JOBS = [
    {"prompts": ["a red dragon", "a blue whale"], "seed": 3},
    {"prompts": ["a cat", "a dog", "a frog"], "loop": True, "output": "loop.gif"},
    {"prompts": "a knight | a wizard", "pixel_size": 4, "colors": 8, "output": "knight.webp"},
    {"prompts": ["x", "y"], "format": "spritesheet", "output": "sheet.png"},
    SAVED,  # a settings file as a job: the batch's --frames does not override its frames
    {"prompts": ["sun", "moon"], "seed": "1,2", "steps": 3},  # the job's steps win over the batch's
]
# The same six as `pixelgif morph` commands: (arguments, output name).
MORPHS = [
    (["a red dragon", "a blue whale", "--seed", "3", "--frames", "3"], "0001-a-red-dragon-a-blue-whale.gif"),
    (["a cat", "a dog", "a frog", "--loop", "--frames", "3"], "loop.gif"),
    (["a knight", "a wizard", "--pixel-size", "4", "--colors", "8", "--frames", "3"], "knight.webp"),
    (["x", "y", "--format", "spritesheet", "--frames", "3"], "sheet.png"),
    (["--from", "{saved}"], "saved.gif"),
    (["sun", "moon", "--seed", "1,2", "--frames", "3", "--steps", "3"], "0006-sun-moon.gif"),
]
BOOKKEEPING = {"index.html", ".pixelgif-batch"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_jobs(folder: Path, jobs=JOBS) -> Path:
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    return path


def batch_argv(jobs: Path, out: Path, tiny_sd) -> list[str]:
    return ["batch", str(jobs), "-o", str(out), "--model", str(tiny_sd), "--frames", "3", *COMMON]


def files(folder: Path) -> dict[str, bytes]:
    """Return {relative path: bytes} of the outputs in ``folder`` (not the gallery or the records)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and relative.parts[0] not in BOOKKEEPING:
            found[str(relative)] = path.read_bytes()
    return found


def assert_same_outputs(batch: Path, reference: Path) -> None:
    """The same files; animations byte for byte, settings files but for what a run only reports."""
    made, expected = files(batch), files(reference)
    assert sorted(made) == sorted(expected)
    for name, data in expected.items():
        if name.endswith(".json") and b'"pixelgif-settings"' in data:
            mine, theirs = json.loads(made[name]), json.loads(data)
            for settings in (mine, theirs):
                del settings["run"], settings["output"]  # timings; the folder it was written to
            assert mine == theirs, name
        else:
            assert made[name] == data, f"{name} differs from pixelgif morph's"


@pytest.fixture(scope="module")
def reference(tiny_sd, tmp_path_factory):
    """The six jobs run one by one with `pixelgif morph`: the folder of their files."""
    folder = tmp_path_factory.mktemp("reference")
    saved = folder.parent / "saved-settings.json"
    saved.write_text(json.dumps(SAVED))
    for argv, name in MORPHS:
        argv = [a.format(saved=saved) for a in argv]
        assert main(["morph", "--model", str(tiny_sd), *COMMON, *argv, "-o", str(folder / name)]) == 0  # argv wins
    return folder


@pytest.fixture(scope="module")
def batch_run(tiny_sd, reference, tmp_path_factory):
    """The six jobs as one `pixelgif batch` (in this process): its output folder."""
    folder = tmp_path_factory.mktemp("batch")
    out = folder / "out"
    assert main(batch_argv(write_jobs(folder), out, tiny_sd)) == 0
    return out


def test_batch_gives_the_files_of_one_morph_per_job(batch_run, reference, tiny_sd, capsys):
    assert_same_outputs(batch_run, reference)
    records = sorted((batch_run / ".pixelgif-batch").glob("*.json"))
    assert len(records) == 6 and not list(batch_run.rglob("*.part*"))
    # Again: every job is done, nothing is written.
    before = {p: p.stat().st_mtime_ns for p in batch_run.rglob("*") if p.is_file() and p.name != "index.html"}
    assert main(batch_argv(batch_run.parent / "jobs.jsonl", batch_run, tiny_sd)) == 0
    assert "6 jobs: 0 done, 6 skipped (done before), 0 failed" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_two_processes_share_the_jobs_each_once(tiny_sd, reference, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # OMP_NUM_THREADS as here: the same bytes
    # accelerate's launcher for GPUs; on CPU each process gets gloo (torchrun --nproc_per_node 2 does the same).
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()),
               "-m", "pixelgif", *batch_argv(write_jobs(tmp_path), out, tiny_sd)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "6 jobs: 6 done, 0 skipped (done before), 0 failed on 2 processes" in done.stdout  # each job once
    records = [json.loads(p.read_text()) for p in (out / ".pixelgif-batch").glob("*.json")]
    assert sorted(r["line"] for r in records) == [1, 2, 3, 4, 5, 6]
    assert {r["process"] for r in records} == {0, 1}
    assert_same_outputs(out, reference)


def test_sigkill_mid_batch_then_rerun_finishes_it(tiny_sd, reference, tmp_path):
    out = tmp_path / "out"
    argv = batch_argv(write_jobs(tmp_path), out, tiny_sd)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen([sys.executable, "-m", "pixelgif", *argv], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(out.glob(".pixelgif-batch/*.json")):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no job finished in time"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    assert len(list(out.glob(".pixelgif-batch/*.json"))) < 6, "the batch ended before the kill"
    # What a kill in the middle of a write leaves: temporary files (and a file of the user's, kept).
    (out / ".knight.webp.abcd1234.part.webp").write_bytes(b"half a file")
    (out / ".0006-sun-moon.gif.abcd_123.part.gif").write_bytes(b"")
    (out / "notes.txt").write_text("mine")
    again = subprocess.run([sys.executable, "-m", "pixelgif", *argv], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "6 jobs: " in again.stdout and " 0 failed" in again.stdout
    (out / "notes.txt").unlink()
    assert_same_outputs(out, reference)
    assert not [p for p in out.rglob(".*") if ".part" in p.name or p.name.endswith(".old")], "leftovers"


def test_bad_lines_are_reported_and_the_others_run(tiny_sd, tmp_path, capsys):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        "\n".join(
            [
                '{"prompts": ["a red apple", "a green tree"], "output": "ok.gif"}',
                '{"prompts": ["a", "b"], "output": "broken.gif"',  # line 2: invalid JSON
                "",
                '{"prompts": ["a", "b"], "colour": "red"}',  # line 4: unknown option
                '{"prompts": ["a red apple", ""]}',  # line 5: empty prompt
                '{"prompts": ["a", "b"], "output": "ok.gif"}',  # line 6: the output of line 1
                '{"prompts": ["a", "b"], "frames": 1}',  # line 7: a bad value
            ]
        )
    )
    code = main(batch_argv(jobs, tmp_path / "out", tiny_sd))
    out, err = capsys.readouterr()
    assert code == 1
    assert "line 2: not valid JSON" in err
    assert "line 4: unknown option 'colour'" in err
    assert "line 5: prompt 2 is empty" in err
    assert "line 6: output 'ok.gif' would overwrite a file of line 1" in err
    assert "line 7: frames per transition must be" in err
    assert "1 job: 1 done, 0 skipped (done before), 0 failed; 5 bad lines" in out
    assert (tmp_path / "out" / "ok.gif").is_file()


def test_a_failing_job_is_reported_and_the_others_run(tiny_sd, tmp_path, capsys):
    jobs = write_jobs(tmp_path, [{"prompts": ["a", "b"], "output": "fine.gif"},
                                 {"prompts": ["a", "b"], "output": "bad.gif", "model": str(tmp_path / "nothing")},
                                 {"prompts": ["c", "d"], "output": "fine2.gif"}])  # fmt: skip
    code = main(batch_argv(jobs, tmp_path / "out", tiny_sd))
    out, err = capsys.readouterr()
    assert code == 1
    assert "line 2 failed (bad.gif): " in err
    assert "3 jobs: 2 done, 0 skipped (done before), 1 failed" in out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.gif")) == ["fine.gif", "fine2.gif"]


def test_job_files_jsonl_csv_defaults_and_names(tmp_path):
    csv = tmp_path / "jobs.csv"
    csv.write_text('prompts,seed,pixel-size,output\n"a red dragon|a blue whale",7,4,\n"a | b | c",,,abc.webp\n')
    jobs, bad = read_jobs(csv, tmp_path / "out", {"steps": 9, "seed": [2], "pixel_size": None})
    assert not bad
    first, second = jobs
    assert (first.line, first.name, first.prompts) == (
        2,
        "0002-a-red-dragon-a-blue-whale.gif",
        ["a red dragon", "a blue whale"],
    )
    assert first.request.morph.seed == 7 and first.request.pixelate.pixel_size == 4 and first.request.morph.steps == 9
    assert second.name == "abc.webp" and second.request.morph.seed == 2 and second.format == "webp"
    # A saved settings file keeps its own settings over the defaults, and only its output's name.
    jobs, bad = read_jobs(write_jobs(tmp_path, [SAVED]), tmp_path / "out", {"frames": 9, "steps": 4})
    assert not bad and jobs[0].name == "saved.gif"
    assert jobs[0].request.morph.frames == 2 and jobs[0].request.morph.steps == 4
    assert jobs[0].request.output == tmp_path / "out" / "saved.gif"
    # Outputs stay inside the folder; the key changes with any setting.
    jobs, bad = read_jobs(write_jobs(tmp_path, [{"prompts": ["a", "b"], "output": "../x.gif"},
                                                {"prompts": ["a", "b"], "seed": 1}, {"prompts": ["a", "b"]}]),
                          tmp_path / "out")  # fmt: skip
    assert [b.line for b in bad] == [1] and "inside the batch folder" in bad[0].reason
    assert jobs[0].key != jobs[1].key
    assert set(MODEL_OPTIONS) <= set(OPTIONS)


def test_gallery_shows_every_output_crisp(batch_run):
    page = (batch_run / "index.html").read_text()
    assert page.count("<figure") == 6 and "a red dragon" in page
    if not Path(CHROMIUM).exists():
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does)"
        if os.environ.get("PIXELGIF_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto((batch_run / "index.html").as_uri())
            images = page.locator("figure img")
            sync_api.expect(images).to_have_count(6)
            shown = images.evaluate_all(
                "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth > 0,"
                " getComputedStyle(e).imageRendering, e.getBoundingClientRect().width])"
            )
            assert sorted(src for src, *_ in shown) == sorted(
                ["0001-a-red-dragon-a-blue-whale.gif", "loop.gif", "knight.webp", "sheet.png", "saved.gif",
                 "0006-sun-moon.gif"]
            )  # fmt: skip
            assert all(loaded and rendering == "pixelated" and width >= 192 for _, loaded, rendering, width in shown)
            captions = page.locator("figcaption").all_inner_texts()
            assert any("a knight" in c and "a wizard" in c for c in captions)
        finally:
            browser.close()
