"""The bundled UNet on ONNX Runtime: the same noise prediction, faster on a CPU in float32.

Why: on a 2-core AMD EPYC (AVX2, float32) one UNet call at batch 16 took 612 ms in eager torch
(two threads, one slice each: `cpu_shards`) and 425 ms on ONNX Runtime the same way; at batch 2,
103 and 49 ms. Exporting the module to ONNX takes seconds, so nothing is exported at run time:
the package ships the graph of the bundled architecture without its weights (`GRAPH_FILE`,
made by ``scripts/export_sprite_unet_onnx.py``), and a session is built from it with the
loaded `SpriteUNet`'s own float32 parameters handed to ONNX Runtime as external initializers
(no copy, no file). So any weights folder of the shipped architecture (a distilled student, a
full fine-tune) runs on it too; `GRAPH_INFO` records the architecture and every initializer's
shape, and anything else (another config, another dtype or device, sizes the graph was not
traced for, onnxruntime missing, ``PIXELGIF_ONNX=0``) stays on the eager torch module.

Results differ from torch's in the last bits (within 1e-5: tests/models/test_onnx_unet.py), and,
as with torch, a sample's prediction does not depend on the batch it is computed in.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import torch

from .onnx_session import (
    GRAPH_FILE,
    GRAPH_INFO,
    INPUTS,
    build_session,
    onnx_enabled,
    session_threads,
    take_prebuilt,
)

__all__ = ["GRAPH_FILE", "GRAPH_INFO", "INPUTS", "OnnxUNet", "architecture", "onnx_unet_for", "session_threads"]
# The config keys that do not shape the graph: sizes are dynamic in it.
UNSHAPED = ("sample_size",)


def architecture(unet) -> dict[str, Any]:
    """Return what shapes ``unet``'s graph: its full config (defaults filled in), sizes left out, as JSON types."""
    config = {k: v for k, v in vars(unet.config).items() if not k.startswith("_") and k not in UNSHAPED}
    return json.loads(json.dumps(config))  # tuples as lists, as the graph info stores them


def onnx_unet_for(unet) -> OnnxUNet | None:
    """Return an `OnnxUNet` running ``unet`` (a `SpriteUNet` on the CPU in float32 of the shipped
    graph's architecture, with onnxruntime installed), or None to keep the eager module."""
    from .sprite_unet import SpriteUNet

    if not onnx_enabled():
        return None
    if not isinstance(unet, SpriteUNet) or unet.dtype != torch.float32 or unet.device.type != "cpu":
        return None
    try:
        info = json.loads(GRAPH_INFO.read_text())
    except (OSError, ValueError):
        return None
    state = unet.state_dict()
    shapes = {name: list(tensor.shape) for name, tensor in state.items()}
    if info.get("architecture") != architecture(unet) or info.get("initializers") != shapes:
        return None
    return OnnxUNet(unet, 2 ** (len(unet.config.block_out_channels) - 1))


class OnnxUNet:
    """``unet``'s noise prediction on ONNX Runtime; sessions are built on first use, one per thread count."""

    def __init__(self, unet, multiple: int):
        # ONNX Runtime reads the weights from these arrays (views of the module's parameters) for
        # as long as a session lives: keep both.
        self.unet = unet
        self.multiple = multiple  # height and width the traced graph handles: multiples of this
        self._arrays = {name: tensor.detach().contiguous().numpy() for name, tensor in unet.state_dict().items()}
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()

    def fits(self, sample: torch.Tensor) -> bool:
        """Return True when the graph computes ``sample``'s prediction (float32, traced sizes)."""
        height, width = sample.shape[-2:]
        return sample.dtype == torch.float32 and height % self.multiple == 0 and width % self.multiple == 0

    def session(self, threads: int = 1):
        """Return the ONNX Runtime session with ``threads`` intra-op threads: the one `onnx_session.prebuild`
        started if it fits, else built now."""
        with self._lock:
            if threads not in self._sessions:
                prebuilt = take_prebuilt(self._arrays, threads) if not self._sessions else None
                if prebuilt is not None:
                    # Equal to ours bit for bit; the session reads the prebuild's arrays: keep them.
                    self._sessions[threads], self._arrays = prebuilt
                else:
                    self._sessions[threads] = build_session(self._arrays, threads)
            return self._sessions[threads]

    def __call__(self, sample: torch.Tensor, timestep, context: torch.Tensor, threads: int = 1) -> torch.Tensor:
        """Return the noise prediction for ``sample`` (B, C, H, W) at ``timestep`` (a number, or one per
        sample) under ``context`` (B, tokens, dim), as `SpriteUNet.forward` returns it."""
        batch = sample.shape[0]
        # As SpriteUNet.time_embed: one timestep per sample, as float32.
        steps = torch.as_tensor(timestep).reshape(-1).expand(batch).float()
        feeds = {
            "sample": np.ascontiguousarray(sample.detach().numpy()),
            "timestep": np.ascontiguousarray(steps.numpy()),
            "encoder_hidden_states": np.ascontiguousarray(context.detach().float().numpy()),
        }
        (noise,) = self.session(threads).run(None, feeds)
        return torch.from_numpy(noise)
