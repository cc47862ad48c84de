"""Write the bundled UNet's ONNX graph without weights (src/pixelgif/models/bundled/sprite_unet.onnx)
and its info (sprite_unet.json: the architecture and every initializer's name and shape).

    python scripts/export_sprite_unet_onnx.py [--check]

Run it after changing `sprite_unet.SpriteUNet` or the shipped UNet config; tests/models/
test_onnx_unet.py fails until the graph matches the module again. ``--check`` exports to memory
and says whether the shipped info matches (the graph bytes depend on the torch version).

The graph is traced at 32x32 with dynamic batch, height and width (upsampling by 2: sizes that are
multiples of 4), no constant folding, so every initializer is one of the module's parameters under
its state-dict name. Their data is left out (marked external), and `onnx_unet.OnnxUNet` hands the
loaded module's parameters to ONNX Runtime in its place: any weights of this architecture fit.
Needs the onnx package (pip install onnx), for this script only.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
OPSET = 17


def export() -> tuple[bytes, dict]:
    """Return (weight-less graph bytes, info) of the shipped architecture."""
    import onnx
    import torch

    from pixelgif.models.bundled import WEIGHTS_DIR
    from pixelgif.models.bundled.onnx_unet import INPUTS, architecture
    from pixelgif.models.bundled.sprite_unet import load_sprite_unet

    unet = load_sprite_unet(WEIGHTS_DIR / "unet")
    channels, tokens, dim = unet.config.in_channels, 24, unet.config.cross_attention_dim
    example = (torch.randn(2, channels, 32, 32), torch.tensor([999.0, 999.0]), torch.randn(2, tokens, dim))
    spatial = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    torch.onnx.export(
        unet, example, buffer, input_names=list(INPUTS), output_names=["noise"], opset_version=OPSET,
        dynamic_axes={"sample": spatial, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch", 1: "tokens"},
                      "noise": spatial},
        do_constant_folding=False, dynamo=False,
    )  # fmt: skip
    model = onnx.load_from_string(buffer.getvalue())
    state = unet.state_dict()
    initializers = {}
    for tensor in model.graph.initializer:
        if tensor.name not in state:
            raise SystemExit(f"initializer {tensor.name!r} is not a parameter of the module: cannot be fed")
        initializers[tensor.name] = list(tensor.dims)
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        del tensor.external_data[:]
        for key, value in (("location", "weights-of-the-loaded-module"), ("offset", "0"), ("length", "0")):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    if set(initializers) != set(state):
        raise SystemExit(f"parameters missing from the graph: {sorted(set(state) - set(initializers))[:5]}")
    for node in model.graph.node:
        node.doc_string = ""  # the exporter's Python stack traces: size, and paths of this machine
    model.producer_name, model.producer_version = "pixelgif scripts/export_sprite_unet_onnx.py", ""
    info = {"architecture": architecture(unet), "initializers": {name: initializers[name] for name in state}}
    return model.SerializeToString(), info


def main(argv: list[str]) -> int:
    from pixelgif.models.bundled.onnx_unet import GRAPH_FILE, GRAPH_INFO

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether the shipped info matches")
    args = parser.parse_args(argv)
    graph, info = export()
    text = json.dumps(info, indent=1) + "\n"
    if args.check:
        same = GRAPH_INFO.is_file() and json.loads(GRAPH_INFO.read_text()) == info
        print("the shipped graph info matches the module" if same else "the shipped graph info is out of date")
        return 0 if same else 1
    GRAPH_FILE.write_bytes(graph)
    GRAPH_INFO.write_text(text)
    print(f"wrote {GRAPH_FILE} ({len(graph)} bytes) and {GRAPH_INFO}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
