"""`pixelgif batch --workers`: bundled-model jobs made side by side in worker processes write the bytes
of one job at a time; which batches get workers by default; a worker that dies; bad values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from pixelgif.batch import read_jobs
from pixelgif.batch.runner import _worker_count
from pixelgif.batch.workers import MAX_AUTO_WORKERS, _context, _finished, auto_workers, worker_count
from pixelgif.cli import main

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_JOBS = [
    {"prompts": ["a red apple", "a blue fish"], "seed": 1},
    {"prompts": ["a green frog", "a yellow star"], "seed": 2, "output": "frog.gif"},
    {"prompts": ["a pink heart", "a white ghost"], "seed": 3, "format": "spritesheet", "output": "sheet.png"},
]


def write_jobs(folder: Path, jobs: list[dict]) -> Path:
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    return path


def outputs(folder: Path) -> dict[str, bytes]:
    """Return {name: bytes} of the animations and sheets (settings files record timings)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".gif", ".png")}


def test_workers_write_the_bytes_of_one_job_at_a_time(tmp_path):
    # The last job meets the first one's keyframe again: workers share inversions through files.
    again = {"prompts": ["a red apple", "a pink heart"], "seed": 1, "output": "again.gif"}
    jobs = write_jobs(tmp_path, [*BUNDLED_JOBS, again])
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "2", "TMPDIR": str(temporary)}
    made = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        command = [sys.executable, "-m", "pixelgif", "batch", str(jobs), "-o", str(out), "--frames", "2", "-q",
                   "--workers", workers]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "4 jobs: 4 done, 0 skipped (done before), 0 failed in" in done.stdout
        assert len(list((out / ".pixelgif-batch").glob("*.json"))) == 4
        made[workers] = outputs(out)
    assert sorted(made["1"]) == ["0001-a-red-apple-a-blue-fish.gif", "again.gif", "frog.gif", "sheet.png"]
    assert made["2"] == made["1"]
    assert not list(temporary.glob("pixelgif-inversions-*"))  # the shared inversions are gone with the batch


def test_auto_workers_only_for_the_bundled_model_on_the_cpu(tmp_path):
    def jobs(options: dict | None = None, count: int = 6):
        lines = [{"prompts": ["a", "b"], "seed": seed, **(options or {})} for seed in range(count)]
        found, bad = read_jobs(write_jobs(tmp_path, lines), tmp_path / "out")
        assert not bad
        return found

    assert auto_workers(jobs(), threads=2) == 2
    assert auto_workers(jobs(), threads=16) == MAX_AUTO_WORKERS
    assert auto_workers(jobs(count=3), threads=16) == 3  # no more workers than jobs
    assert auto_workers(jobs(), threads=1) == 1
    assert auto_workers(jobs(count=1), threads=8) == 1
    assert auto_workers(jobs({"device": "cpu"}), threads=2) == 2
    assert auto_workers(jobs({"device": "cuda"}), threads=8) == 1  # a GPU runs one job at a time
    assert auto_workers(jobs({"model": "stabilityai/stable-diffusion-2-1"}), threads=8) == 1  # GBs per copy
    assert worker_count(3, jobs(), threads=1) == 3 and worker_count(9, jobs(count=2), threads=8) == 2
    assert worker_count("auto", jobs(), threads=2) == 2 and worker_count(None, jobs(), threads=1) == 1
    assert _worker_count("auto", jobs(), num_processes=2) == 1  # under accelerate launch: one at a time
    with pytest.raises(ValueError, match="workers=2 runs worker processes on one machine; under accelerate launch"):
        _worker_count(2, jobs(), num_processes=2)


@pytest.mark.skipif(sys.platform != "linux", reason="workers fork only on Linux")
def test_workers_fork_only_where_a_forked_child_cannot_hang(tmp_path):
    def jobs(device: str):
        found, _ = read_jobs(write_jobs(tmp_path, [dict(job, device=device) for job in BUNDLED_JOBS]), tmp_path / "o")
        return found

    assert _context(1, jobs("cpu")).get_start_method() == "fork"  # no second import
    # More than one OpenMP thread in a forked child hangs if the parent used OpenMP; a GPU driver
    # the parent started does not work in a forked child.
    assert _context(2, jobs("cpu")).get_start_method() == "forkserver"
    assert _context(1, jobs("cuda")).get_start_method() == "forkserver"


def _die(*args) -> None:
    os._exit(9)  # what the kernel's out-of-memory killer leaves a pool with


def test_a_worker_that_dies_fails_its_jobs_with_a_reason(tmp_path):
    found, _ = read_jobs(write_jobs(tmp_path, BUNDLED_JOBS[:2]), tmp_path / "out")
    executor = ProcessPoolExecutor(1)
    outcomes = [outcome for _, outcome in _finished(executor, {executor.submit(_die): job for job in found})]
    assert [(o.line, o.status) for o in sorted(outcomes, key=lambda o: o.line)] == [(1, "failed"), (2, "failed")]
    assert all("a worker process stopped unexpectedly" in o.reason for o in outcomes)


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_worker_count_is_one_line(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["batch", str(write_jobs(tmp_path, BUNDLED_JOBS)), "-o", str(tmp_path / "out"), "--workers", value])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"workers must be auto or a whole number of at least 1, got {value!r}" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
