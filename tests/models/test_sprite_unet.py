"""The torch-only bundled UNet, samplers and text encoder give what diffusers and transformers give."""

import json
import subprocess
import sys

import pytest
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

from pixelgif.models.bundled import WEIGHTS_DIR, load_bundled_pipeline, load_unet
from pixelgif.models.bundled.sprite_unet import SpriteUNet, load_sprite_unet, unsupported


def _inputs(batch, channels=4, size=32, context=384, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, size, size, generator=g), torch.randn(batch, 24, context, generator=g)


@pytest.mark.parametrize("batch", [1, 2, 5])
@pytest.mark.parametrize("timestep", [999, 417, 0, torch.tensor(250), torch.tensor([10, 500, 990, 3, 77])])
def test_shipped_weights_predict_the_same_noise_as_diffusers(batch, timestep):
    if isinstance(timestep, torch.Tensor) and timestep.numel() > 1:
        timestep = timestep[:batch]
    reference = UNet2DConditionModel.from_pretrained(WEIGHTS_DIR / "unet", torch_dtype=torch.float32).eval()
    ours = load_sprite_unet(WEIGHTS_DIR / "unet")
    sample, context = _inputs(batch)
    with torch.no_grad():
        expected = reference(sample, timestep, encoder_hidden_states=context).sample
        got = ours(sample, timestep, context)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-5


@pytest.mark.parametrize(
    "config",
    [
        {},  # the bundled architecture, random weights
        dict(block_out_channels=(16, 32), layers_per_block=2, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
             up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=(2, 4), norm_num_groups=8,
             cross_attention_dim=32, use_linear_projection=True, in_channels=3, out_channels=5, freq_shift=1,
             flip_sin_to_cos=False),
    ],
)  # fmt: skip
def test_any_supported_config_loads_the_same_weights_and_predicts_the_same(tmp_path, config):
    from pixelgif.models.bundled.unet import unet_config

    full = {**unet_config(), **config}
    torch.manual_seed(0)
    reference = UNet2DConditionModel(**full).eval()
    with torch.no_grad():  # non-zero everywhere, so that every weight matters
        for parameter in reference.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    reference.save_pretrained(tmp_path)
    assert unsupported(json.loads((tmp_path / "config.json").read_text())) is None
    ours = load_sprite_unet(tmp_path)
    sample, context = _inputs(3, full["in_channels"], 16, full["cross_attention_dim"])
    with torch.no_grad():
        expected = reference(sample, 321, encoder_hidden_states=context).sample
        got = ours(sample, 321, context)
    assert (got - expected).abs().max().item() <= 1e-5


def test_unsupported_configs_load_through_diffusers(tmp_path):
    from pixelgif.models.bundled.unet import unet_config

    UNet2DConditionModel(**unet_config(), time_cond_proj_dim=8).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert unsupported(config) == "time_cond_proj_dim=8"
    with pytest.raises(ValueError, match="time_cond_proj_dim"):
        SpriteUNet(**{k: v for k, v in config.items() if not k.startswith("_")})
    assert isinstance(load_unet(tmp_path, torch.float32), UNet2DConditionModel)


def test_weights_that_do_not_fit_the_config_are_one_clear_error(tmp_path):
    (tmp_path / "config.json").write_text((WEIGHTS_DIR / "unet" / "config.json").read_text())
    save_file({"conv_in.weight": torch.zeros(32, 4, 3, 3)}, str(tmp_path / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(ValueError, match="do not fit its config"):
        load_sprite_unet(tmp_path)


def test_bundled_pipeline_uses_the_torch_only_modules():
    from pixelgif.models.bundled.minilm import MiniLM
    from pixelgif.models.bundled.samplers import DPMSolver

    pipe = load_bundled_pipeline()
    assert isinstance(pipe.unet, SpriteUNet) and isinstance(pipe.text_encoder, MiniLM)
    assert isinstance(pipe.scheduler, DPMSolver) and pipe.scheduler.config.thresholding


@pytest.mark.parametrize("command", ["morph", "batch"])
def test_cli_morph_on_the_bundled_model_imports_no_diffusers_transformers_or_peft(tmp_path, command):
    """The whole command in a fresh process: renders (tiny) and writes, and never imports the heavy libraries
    (nor torch._dynamo, which building modules on the meta device would import)."""
    out = tmp_path / "m.gif"
    flags = ["--frames", "2", "--steps", "2", "-q"]
    heavy = ("diffusers", "transformers", "peft", "accelerate", "torch._dynamo")
    if command == "morph":
        arguments = ["morph", "a red dragon", "a blue whale", *flags, "-o", str(out)]
    else:  # a job file of one job
        (tmp_path / "jobs.jsonl").write_text(
            json.dumps({"prompts": ["a red dragon", "a blue whale"], "output": "m.gif"})
        )
        arguments = ["batch", str(tmp_path / "jobs.jsonl"), "-o", str(tmp_path), *flags]
        heavy = heavy[:3] + heavy[4:]  # a batch shares its jobs between processes with accelerate (no model code)
    code = (
        "import sys\n"
        "from pixelgif.cli import main\n"
        f"code = main({arguments!r})\n"
        f"heavy = sorted(m for m in {heavy!r}\n"
        "               if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HEAVY []" in done.stdout
    assert out.is_file()


def test_a_distilled_student_folder_loads_with_its_step_count_and_sampler(tmp_path):
    """A student of the bundled model (same architecture; `distill.json` with its steps; DPM-Solver++ of
    order 1 on the trailing grid) loads through the torch-only modules with its own defaults."""
    import shutil

    from pixelgif.models.bundled.samplers import DPMSolver

    shutil.copytree(WEIGHTS_DIR / "unet", tmp_path / "unet")
    (tmp_path / "scheduler").mkdir()
    config = json.loads((WEIGHTS_DIR / "scheduler" / "scheduler_config.json").read_text())
    config.update(solver_order=1, timestep_spacing="trailing")
    (tmp_path / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
    (tmp_path / "distill.json").write_text(json.dumps({"steps": 3, "round": 2}))
    pipe = load_bundled_pipeline(weights_dir=tmp_path)
    assert isinstance(pipe.unet, SpriteUNet) and isinstance(pipe.scheduler, DPMSolver)
    assert pipe.default_num_inference_steps == 3 and pipe.scheduler.order == 1
    pipe.scheduler.set_timesteps(3)
    assert pipe.scheduler.timesteps.tolist() == [999, 666, 332]
    assert pipe.library is None  # the library belongs to the shipped weights
