"""The GIF helper process: the same bytes as encoding here, and a fallback when it fails."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from encode_helpers import p_images, sprite_indices

from pixelgif.encode import EncodeConfig, write_animation
from pixelgif.encode.gif import helper
from pixelgif.encode.gif.writer import encode_gif


@pytest.fixture
def gif_helper():
    started = helper.GifHelper()
    yield started
    started.close()


def _animation(seed: int):
    rng = np.random.default_rng(seed)
    frames, frame = [], rng.integers(0, 40, (48, 64), dtype=np.uint8)
    for _ in range(5):
        frame = frame.copy()
        changed = rng.random(frame.shape) < 0.2
        frame[changed] = rng.integers(0, 40, int(changed.sum()))
        frames.append(frame)
    return frames, rng.integers(0, 256, (40, 3), dtype=np.uint8)


def test_helper_encodes_the_same_bytes_as_this_process(gif_helper):
    for seed, options in [(0, {}), (1, {"transparent": 3, "compact": True, "loop": 2})]:
        frames, palette = _animation(seed)
        want = encode_gif(frames, palette, [80] * len(frames), **options)
        assert gif_helper.encode(frames, palette, [80] * len(frames), **options) == want
    gif_helper.close()
    assert gif_helper.process.returncode == 0  # it exits when its input closes


def test_helper_error_gives_none_and_ends_it(gif_helper):
    assert gif_helper.encode([], np.zeros((4, 3), np.uint8), []) is None  # no frames: an error there
    assert gif_helper.process.poll() is not None


def test_write_gif_uses_the_started_helper_and_falls_back_when_it_died(tmp_path, monkeypatch, gif_helper):
    arrays = sprite_indices(transparent=0)
    expected = write_animation(p_images(arrays, transparent=0), tmp_path / "here.gif", EncodeConfig()).read_bytes()
    monkeypatch.setattr(helper, "_running", gif_helper)
    assert write_animation(p_images(arrays, transparent=0), tmp_path / "a.gif", EncodeConfig()).read_bytes() == expected
    assert helper.take() is None and gif_helper.process.returncode == 0  # used once, then closed

    dead = helper.GifHelper()
    dead.process.kill()
    dead.process.wait()
    monkeypatch.setattr(helper, "_running", dead)
    assert write_animation(p_images(arrays, transparent=0), tmp_path / "b.gif", EncodeConfig()).read_bytes() == expected


def test_start_only_when_numba_is_not_loaded_yet(monkeypatch):
    monkeypatch.setattr(helper, "_running", None)
    monkeypatch.setitem(sys.modules, "numba", sys.modules.get("numba") or object())
    assert helper.start() is None  # loading numba here again costs nothing: no helper
    monkeypatch.delitem(sys.modules, "numba")
    monkeypatch.setenv(helper.ENV_SWITCH, "0")
    assert helper.start() is None


def test_command_without_numba_loaded_starts_and_ends_the_helper(tmp_path):
    # A fresh interpreter, as a cold command: the helper starts, encodes, and no process is left.
    script = (
        "import sys, numpy as np\n"
        "from pixelgif.encode.gif import helper, write_gif\n"
        "assert 'numba' not in sys.modules\n"
        "started = helper.start()\n"
        "assert started is not None\n"
        "from pixelgif.encode import EncodeConfig, write_animation\n"
        "from encode_helpers import p_images, sprite_indices\n"
        f"write_animation(p_images(sprite_indices()), {str(tmp_path / 'a.gif')!r}, EncodeConfig())\n"
        "assert started.process.returncode == 0 and helper.take() is None\n"
        "assert 'numba' not in sys.modules  # the helper did the encoding\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    expected = write_animation(p_images(sprite_indices()), tmp_path / "b.gif", EncodeConfig())
    assert (tmp_path / "a.gif").read_bytes() == expected.read_bytes()


@pytest.mark.skipif(sys.platform == "win32", reason="os.kill(pid, 0) probes a process on POSIX only")
def test_a_command_that_fails_before_its_gif_exits_at_once_and_leaves_no_helper(tmp_path):
    script = (
        "import sys, time\n"
        "from pixelgif.encode.gif import helper\n"
        "started = helper.start()\n"
        "assert started is not None\n"
        f"open({str(tmp_path / 'pid')!r}, 'w').write(str(started.process.pid))\n"
        "sys.exit(3)  # as an error after the helper started, while it still loads numba\n"
    )
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert time.monotonic() - began < 10
    with pytest.raises(ProcessLookupError):  # stopped and reaped, not left behind
        os.kill(int((tmp_path / "pid").read_text()), 0)
