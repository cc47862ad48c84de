"""The training package's settings modules load without torch and change nothing when imported."""

import os
import subprocess
import sys

# What `pixelgif --help` and `python -m pixelgif.train.bundled` import before any training starts.
LIGHT_MODULES = ("pixelgif.train", "pixelgif.train.options", "pixelgif.train.results", "pixelgif.train.data",
                 "pixelgif.train.preprocess", "pixelgif.train.lora", "pixelgif.train.lora.config",
                 "pixelgif.train.full", "pixelgif.train.full.config", "pixelgif.train.full.data",
                 "pixelgif.train.bundled", "pixelgif.train.bundled.config", "pixelgif.train.bundled.data")  # fmt: skip


def test_settings_modules_load_no_torch_and_set_no_environment_variables():
    code = ("import os, sys; before = dict(os.environ)\n"
            f"for name in {LIGHT_MODULES!r}: __import__(name)\n"
            "print('torch' in sys.modules, dict(os.environ) == before)")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
