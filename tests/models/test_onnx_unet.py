"""The bundled UNet on ONNX Runtime: the shipped weight-less graph is the module's architecture, and
its predictions are the torch module's (within 1e-5) on the shipped and on random weights."""

import json
import os

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from pixelgif.models.bundled import WEIGHTS_DIR, load_bundled_pipeline
from pixelgif.models.bundled.onnx_unet import GRAPH_FILE, GRAPH_INFO, OnnxUNet, architecture, onnx_unet_for
from pixelgif.models.bundled.sprite_unet import SpriteUNet, load_sprite_unet, read_config

TOLERANCE = 1e-5  # measured: 5e-6 on the shipped weights


@pytest.fixture(scope="module")
def shipped():
    return load_sprite_unet(WEIGHTS_DIR / "unet")


def _inputs(batch: int, seed: int, size: tuple[int, int] = (32, 32)):
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn((batch, 4, *size), generator=generator)
    context = torch.randn((batch, 24, 384), generator=generator)
    return sample, context


def _torch(unet, sample, timestep, context) -> torch.Tensor:
    with torch.no_grad():
        return unet(sample, timestep, context)


def test_the_shipped_graph_is_the_modules_architecture(shipped):
    info = json.loads(GRAPH_INFO.read_text())
    assert info["architecture"] == architecture(shipped)
    assert info["initializers"] == {name: list(t.shape) for name, t in shipped.state_dict().items()}
    assert GRAPH_FILE.stat().st_size < 2**20  # no weights inside: they come from the safetensors
    assert onnx_unet_for(shipped) is not None


@pytest.mark.parametrize(("batch", "timestep", "size"), [(1, 999, (32, 32)), (3, 421, (32, 32)), (2, 17, (24, 40))])
def test_predictions_are_the_torch_modules_on_the_shipped_weights(shipped, batch, timestep, size):
    fast = onnx_unet_for(shipped)
    sample, context = _inputs(batch, batch, size)
    assert fast.fits(sample)
    for t in (timestep, torch.tensor(timestep), torch.tensor(float(timestep), dtype=torch.float64)):
        expected = _torch(shipped, sample, t, context)
        assert (fast(sample, t, context) - expected).abs().max() <= TOLERANCE


def test_predictions_are_the_torch_modules_on_random_weights():
    # Another set of weights of the same architecture (a distilled student, a fine-tune): the
    # graph takes its parameters, whatever they are.
    torch.manual_seed(0)
    config = {k: v for k, v in read_config(WEIGHTS_DIR / "unet").items() if not k.startswith("_")}
    unet = SpriteUNet(**config).eval().requires_grad_(False)
    with torch.no_grad():
        for parameter in unet.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.02)  # norms and biases too, not only their defaults
    fast = onnx_unet_for(unet)
    assert fast is not None
    sample, context = _inputs(3, 5)
    expected = _torch(unet, sample, 500, context)
    assert expected.abs().max() > 0.1  # a real signal, not a vanishing one
    assert (fast(sample, 500, context) - expected).abs().max() <= TOLERANCE
    assert (
        fast(sample, 500, context) - _torch(load_sprite_unet(WEIGHTS_DIR / "unet"), sample, 500, context)
    ).abs().max() > 1e-2


def test_a_sample_gets_the_same_prediction_in_any_batch(shipped):
    # As with torch (cpu_shards): slices of a batch give the same bits, so seeds do not depend on core counts.
    fast = onnx_unet_for(shipped)
    sample, context = _inputs(7, 3)
    whole = fast(sample, 300, context)
    for cut in (1, 3, 4):
        parts = torch.cat([fast(sample[:cut], 300, context[:cut]), fast(sample[cut:], 300, context[cut:])])
        assert torch.equal(parts, whole)
    assert torch.equal(fast(sample, 300, context, threads=2), whole)


def test_other_dtypes_architectures_sizes_and_the_switch_stay_on_torch(shipped, monkeypatch):
    assert onnx_unet_for(load_sprite_unet(WEIGHTS_DIR / "unet", torch.bfloat16)) is None
    config = {k: v for k, v in read_config(WEIGHTS_DIR / "unet").items() if not k.startswith("_")}
    assert onnx_unet_for(SpriteUNet(**{**config, "block_out_channels": [32, 64, 64]})) is None
    assert onnx_unet_for(SpriteUNet(**{**config, "attention_head_dim": 4})) is None
    fast = onnx_unet_for(shipped)
    assert not fast.fits(torch.zeros(1, 4, 30, 32))  # the graph was traced for even halvings
    assert not fast.fits(torch.zeros(1, 4, 32, 32, dtype=torch.bfloat16))
    monkeypatch.setenv("PIXELGIF_ONNX", "0")
    assert onnx_unet_for(shipped) is None
    assert load_bundled_pipeline().onnx_unet is None


def test_the_pipeline_renders_on_onnx_runtime_as_on_torch(monkeypatch):
    pipe = load_bundled_pipeline()
    assert isinstance(pipe.onnx_unet, OnnxUNet)
    noise = torch.randn((3, 4, 32, 32), generator=torch.Generator().manual_seed(2))
    fast = pipe(["a red apple", "a tree", "a cat"], latents=noise, num_inference_steps=4, output_type="pt").images
    monkeypatch.setattr(pipe, "onnx_unet", None)
    eager = pipe(["a red apple", "a tree", "a cat"], latents=noise, num_inference_steps=4, output_type="pt").images
    assert (fast - eager).abs().max() < 1e-3  # four steps of guided sampling grow 1e-6 differences a little
    monkeypatch.undo()
    pipe.to(torch.bfloat16)
    assert pipe.onnx_unet is None  # its weights changed: torch again
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_a_session_prebuilt_from_the_same_weights_is_taken_and_predicts_the_same(shipped, tmp_path):
    from pixelgif.models.bundled import onnx_session

    own = onnx_unet_for(shipped)
    sample, context = _inputs(2, 7)
    expected = own(sample, 250, context)
    assert onnx_session.prebuild(WEIGHTS_DIR / "unet", cpu_threads=2)
    fast = onnx_unet_for(load_sprite_unet(WEIGHTS_DIR / "unet"))
    prebuilt = onnx_session._prebuilt.thread
    assert torch.equal(fast(sample, 250, context), expected)
    assert not prebuilt.is_alive() and onnx_session._prebuilt is None  # it waited for the build and took it
    assert not _reads_module(fast)  # the session reads the prebuild's own arrays, which the OnnxUNet keeps

    # Other weights (a fine-tune in another folder) or another thread count: not taken, built anew.
    other = tmp_path / "unet"
    other.mkdir()
    (other / "config.json").write_text((WEIGHTS_DIR / "unet" / "config.json").read_text())
    from safetensors.torch import load_file, save_file

    weights = load_file(str(WEIGHTS_DIR / "unet" / "diffusion_pytorch_model.safetensors"))
    name = next(iter(weights))
    weights[name] = weights[name] + 1
    save_file(weights, str(other / "diffusion_pytorch_model.safetensors"))
    for folder, threads in ((other, 2), (WEIGHTS_DIR / "unet", 16)):
        assert onnx_session.prebuild(folder, cpu_threads=threads)
        fast = onnx_unet_for(shipped)
        assert torch.equal(fast(sample, 250, context), expected)
        assert _reads_module(fast)  # its own session, on the module's parameters
        assert onnx_session._prebuilt is None  # offered, refused, dropped


def _reads_module(fast: OnnxUNet) -> bool:
    return all(np.shares_memory(fast._arrays[name], t.numpy()) for name, t in fast.unet.state_dict().items())


def test_one_session_per_process_with_threads_from_the_cpu():
    from pixelgif.models.bundled.onnx_session import session_threads

    assert [session_threads(n) for n in (1, 2, 4, 8, 16)] == [1, 1, 1, 2, 4]


def _predict_in_forked_child() -> tuple[np.ndarray, bool]:
    from pixelgif.models.bundled import onnx_session

    torch.set_num_threads(1)  # a forked child of a process that used OpenMP: one thread
    sample, context = _inputs(2, 7)
    fast = onnx_unet_for(load_sprite_unet(WEIGHTS_DIR / "unet"))
    return fast(sample, 250, context).numpy(), onnx_session._prebuilt is None


def test_batch_workers_forked_after_a_prebuild_take_its_session(shipped):
    """`pixelgif batch` builds the session while it imports torch, then forks its workers."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from pixelgif.models.bundled import onnx_session

    sample, context = _inputs(2, 7)
    expected = onnx_unet_for(shipped)(sample, 250, context).numpy()
    assert onnx_session.prebuild(WEIGHTS_DIR / "unet", cpu_threads=2)
    onnx_session.finish_prebuild()
    assert not onnx_session._prebuilt.thread.is_alive() and onnx_session._prebuilt.session is not None
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        predicted, taken = pool.submit(_predict_in_forked_child).result(timeout=120)
    assert taken and np.array_equal(predicted, expected)
    assert onnx_session._prebuilt is not None  # the child took its copy; this process still has its own
    onnx_session._prebuilt = None


def test_a_command_prebuilds_only_for_a_sprite_model_on_the_cpu_in_float32(monkeypatch):
    from pixelgif.models import cpu, start_sprite_session
    from pixelgif.models.bundled import onnx_session

    started = []
    monkeypatch.setattr(onnx_session, "prebuild", lambda folder: started.append(folder) or True)
    monkeypatch.setattr(cpu, "may_have_accelerator", lambda: False)
    monkeypatch.setattr(cpu, "cpu_has_native_bf16", lambda: False)
    bundled = {"model": None, "lora": None, "device": None, "dtype": None}
    assert start_sprite_session(bundled) and started == [WEIGHTS_DIR / "unet"]
    assert start_sprite_session({**bundled, "device": "cpu", "dtype": "float32"})
    for other in ({"model": "sd-turbo"}, {"lora": "pixel-art-xl"}, {"device": "cuda"}, {"dtype": "bfloat16"}):
        assert not start_sprite_session({**bundled, **other}), other
    monkeypatch.setattr(cpu, "cpu_has_native_bf16", lambda: True)  # auto is float32 there too: the graph runs it
    assert start_sprite_session(bundled)
    monkeypatch.setattr(cpu, "may_have_accelerator", lambda: True)  # torch may pick the GPU
    assert not start_sprite_session({**bundled, "dtype": "float32"})
    assert start_sprite_session({**bundled, "dtype": "float32", "device": "cpu"})
    assert len(started) == 4
