"""The bundled UNet's noise prediction on each CPU runtime: milliseconds a call, side by side.

ONNX Runtime (what the bundled path runs), eager PyTorch (`SpriteUNet`), and OpenVINO when it is
installed (``pip install openvino``; not a dependency), on the same inputs, one thread by default
(a batch job's worker; the CLI's single sample gets `onnx_session.session_threads`), rounds
alternating so that a drift of the machine's speed hits all alike. Prints each runtime's largest
difference from eager PyTorch and its time as a ratio to ONNX Runtime's.

    python benchmarks/unet_runtimes.py [--batch 1,2] [--threads 1] [--calls 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

from pixelgif.models.bundled import WEIGHTS_DIR
from pixelgif.models.bundled.onnx_unet import onnx_unet_for
from pixelgif.models.bundled.sprite_unet import load_sprite_unet

TOKENS = 24  # MiniLM states of a short prompt, as the bundled pipeline pads them


def openvino_runner(unet, inputs: tuple[torch.Tensor, ...], threads: int) -> tuple[Callable[[], np.ndarray], float]:
    """Return (a call of ``unet`` converted and compiled by OpenVINO on ``inputs``, seconds to build it)."""
    import openvino as ov

    start = time.perf_counter()
    model = ov.convert_model(unet, example_input=inputs)
    compiled = ov.Core().compile_model(
        model,
        "CPU",
        {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"},
    )
    request = compiled.create_infer_request()
    feeds = {index: tensor.numpy() for index, tensor in enumerate(inputs)}
    return (lambda: request.infer(feeds)[0]), time.perf_counter() - start


def compare(unet, onnx, batch: int, args: argparse.Namespace, generator: torch.Generator, have_openvino: bool) -> None:
    """Print each runtime's milliseconds a call of ``batch`` samples, against ONNX Runtime's."""
    sample = torch.randn(batch, 4, 32, 32, generator=generator)
    timestep = torch.full((batch,), 500.0)
    context = torch.randn(batch, TOKENS, 384, generator=generator)
    with torch.no_grad():
        reference = unet(sample, timestep, context).numpy()
    runners: dict[str, Callable[[], np.ndarray]] = {
        "onnxruntime": lambda: onnx(sample, timestep, context, threads=args.threads).numpy(),
        "torch eager": lambda: unet(sample, timestep, context).numpy(),
    }
    built = ""
    if have_openvino:
        runners["openvino"], seconds = openvino_runner(unet, (sample, timestep, context), args.threads)
        built = f" (OpenVINO converted and compiled in {seconds:.2f} s)"
    times: dict[str, list[float]] = {name: [] for name in runners}
    with torch.no_grad():
        for _ in range(args.rounds):
            for name, run in runners.items():
                run()  # warm
                start = time.perf_counter()
                for _ in range(args.calls):
                    run()
                times[name].append((time.perf_counter() - start) / args.calls * 1000)
        print(f"batch {batch}{built}:")
        base = statistics.median(times["onnxruntime"])
        for name, run in runners.items():
            difference = float(np.abs(run() - reference).max())
            median = statistics.median(times[name])
            print(
                f"  {name:12} {median:7.1f} ms a call  {median / base:5.2f}x ONNX Runtime's  max diff {difference:.1e}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", default="1,2", help="samples per call, comma-separated")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=30, help="timed calls per runtime and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    unet = load_sprite_unet(WEIGHTS_DIR / "unet").eval()
    onnx = onnx_unet_for(unet)
    if onnx is None:
        raise SystemExit("onnxruntime is not installed (or PIXELGIF_ONNX=0): nothing to compare with")
    have_openvino = importlib.util.find_spec("openvino") is not None
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {args.threads} thread(s), float32")
    if not have_openvino:
        print("(OpenVINO not installed: pip install openvino to compare it too)")
    generator = torch.Generator().manual_seed(0)
    for batch in [int(b) for b in args.batch.split(",")]:
        compare(unet, onnx, batch, args, generator, have_openvino)


if __name__ == "__main__":
    main()
