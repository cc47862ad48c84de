"""LoRA fine-tuning (`pixelgif train`) on the tiny Stable Diffusion: output folder, effect, overfit, resume."""

import json
import math
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from pixelgif.cli import main
from pixelgif.train.lora import LoraTrainConfig, train_lora

# A strong LoRA after a few steps, no accumulation, cheap validation renders.
FAST = {"resolution": 32, "batch_size": 2, "gradient_accumulation": 1, "learning_rate": 1e-2, "validate_every": 0,
        "validation_frames": 2, "validation_steps": 2, "log_every": 1}  # fmt: skip


def write_sprites(folder, count=4, captions=True):
    """Write ``count`` 8x8 sprites (one with transparency) and their .txt captions; return ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
        pixels[..., 3] = 255 if i else np.where(rng.random((8, 8)) < 0.5, 0, 255)
        Image.fromarray(pixels, "RGBA").save(folder / f"sprite{i}.png")
        if captions:
            (folder / f"sprite{i}.txt").write_text(f"a pixel art sprite number {i}\n")
    return folder


def quiet(line):
    pass


def config(data, model, output, **options):
    return LoraTrainConfig(data=data, model=str(model), output=output, **{**FAST, **options})


@pytest.fixture(scope="module")
def sprites(tmp_path_factory):
    return write_sprites(tmp_path_factory.mktemp("sprites"))


@pytest.fixture(scope="module")
def trained(tiny_sd, sprites, tmp_path_factory):
    """Return the result of 3 steps of training, with a checkpoint and validation every 2 steps."""
    out = tmp_path_factory.mktemp("trained") / "run"
    cfg = config(sprites, tiny_sd, out, steps=3, checkpoint_every=2, validate_every=2)
    return train_lora(cfg, progress=False, log=quiet)


def render(pipe, seed=0):
    """Return one 32x32 image of ``pipe`` as a float array."""
    generator = torch.Generator().manual_seed(seed)
    return pipe("a pixel art sprite", num_inference_steps=2, generator=generator, output_type="np").images[0]


def test_output_folder_holds_lora_checkpoints_validation_and_logs(trained):
    out = trained.output
    assert trained.lora == out / "pytorch_lora_weights.safetensors" and trained.lora.is_file()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002", "step-000003"]
    for checkpoint in (out / "checkpoints").iterdir():
        files = {p.name for p in checkpoint.iterdir()}
        assert files == {"state.safetensors", "state.json", "pytorch_lora_weights.safetensors"}
    # Validation at step 2 and at the end: the two captions side by side, and their morph as a GIF.
    assert [p.name for p in trained.validation] == ["step-000002.png", "step-000002.gif",
                                                    "step-000003.png", "step-000003.gif"]  # fmt: skip
    with Image.open(out / "validation" / "step-000003.png") as strip:
        assert strip.size == (64, 32)
    with Image.open(out / "validation" / "step-000003.gif") as gif:
        assert gif.n_frames == 3  # 2 frames per transition + the last keyframe
    run = json.loads((out / "training.json").read_text())
    assert run["fingerprint"]["rank"] == 4 and run["config"]["steps"] == 3
    logged = [float(line.split()[3]) for line in (out / "log.txt").read_text().splitlines()]
    assert logged == pytest.approx(trained.losses, abs=1e-4)
    if importlib_find("tensorboard"):
        assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert not [p for p in out.rglob(".*")], "no temporary files left behind"


def importlib_find(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_lora_changes_the_image_and_loads_through_morph(trained, tiny_sd, tmp_path, capsys):
    from diffusers import StableDiffusionPipeline

    tensors = load_file(str(trained.lora))
    assert tensors and all(k.startswith("unet.") for k in tensors)
    assert {k.rsplit(".", 2)[-2] for k in tensors} == {"down", "up"}  # lora.down/up: diffusers format
    assert all(any(f".{name}.lora" in k for k in tensors) for name in ("to_q", "to_k", "to_v", "to_out.0"))

    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd).to("cpu")
    pipe.set_progress_bar_config(disable=True)
    plain = render(pipe)
    pipe.load_lora_weights(str(trained.output))  # diffusers finds pytorch_lora_weights.safetensors in the folder
    assert np.abs(render(pipe) - plain).max() > 1e-3

    # `pixelgif morph --lora OUT`: the LoRA changes the GIF.
    gifs = []
    for name, extra in (("plain.gif", []), ("lora.gif", ["--lora", str(trained.output)])):
        argv = ["morph", "a sprite", "a knight", "--model", str(tiny_sd), "--frames", "2", "--steps", "2", "-o",
                str(tmp_path / name), *extra]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        gifs.append((tmp_path / name).read_bytes())
    assert gifs[0] != gifs[1]
    assert json.loads((tmp_path / "lora.json").read_text())["model"]["lora"] == str(trained.output)


def test_saved_lora_reproduces_the_trained_unet(tiny_sd, sprites, tmp_path):
    from pixelgif.models.loading import load_pipeline
    from pixelgif.train.data import find_examples
    from pixelgif.train.lora.trainer import LoraTrainer, load_base

    cfg = config(sprites, tiny_sd, tmp_path / "r", rank=2, lora_alpha=6.0)
    trainer = LoraTrainer(load_base(cfg.model), find_examples(sprites), cfg, progress=False)
    trainer.train_step()
    trainer.save_final()
    trainer.unet.eval()
    inputs = (torch.randn(1, 4, 16, 16), torch.tensor([500]), torch.randn(1, 77, 32))
    loaded = load_pipeline(str(tiny_sd), lora=str(cfg.output), device="cpu").unet
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs).sample, trainer.unet(*inputs).sample)


def test_loss_on_a_repeated_batch_goes_down(tiny_sd, sprites, tmp_path):
    """Overfit check: shared-loop steps on one repeated batch (same images, noise, timesteps) drive its loss down."""
    from pixelgif.train.data import find_examples
    from pixelgif.train.loop import diffusion_loss
    from pixelgif.train.lora.trainer import LoraTrainer, load_base

    examples = find_examples(sprites)
    cfg = config(sprites, tiny_sd, tmp_path / "o", steps=20)
    trainer = LoraTrainer(load_base(cfg.model), examples, cfg, progress=False)
    latents = trainer.encode_images([0, 1, 2, 3])
    context = trainer.encode_captions([e.caption for e in examples])

    def repeated_batch_loss():
        forward = lambda noisy, t: trainer.loop.models[0](noisy, t, encoder_hidden_states=context).sample  # noqa: E731
        return diffusion_loss(forward, trainer.noise_scheduler, latents, torch.Generator().manual_seed(0))

    losses = [trainer.loop.train_step(repeated_batch_loss) for _ in range(20)]
    # The tiny random UNet leaves a LoRA on two attention blocks little room: ~10 % in 20 steps, steadily.
    assert losses[-1] < 0.95 * losses[0], losses
    assert all(later < earlier for earlier, later in zip(losses[::5], losses[5::5], strict=False)), losses


def test_resume_continues_from_the_saved_step_and_optimizer_state(trained, tiny_sd, sprites, tmp_path):
    out = tmp_path / "resumed"
    first = train_lora(config(sprites, tiny_sd, out, steps=2, checkpoint_every=1), progress=False, log=quiet)
    assert first.steps == 2
    lines = []
    result = train_lora(config(sprites, tiny_sd, out, steps=3, resume=True), progress=False, log=lines.append)
    assert (result.resumed_from, result.steps, len(result.losses)) == (2, 3, 1)
    assert "resumed" in lines[0] and "step-000002" in lines[0] and "at step 2" in lines[0]
    # 2 steps + 1 resumed step make the same LoRA, optimizer state and random state as 3 in one go.
    expected = load_file(str(trained.output / "checkpoints" / "step-000003" / "state.safetensors"))
    got = load_file(str(out / "checkpoints" / "step-000003" / "state.safetensors"))
    assert expected.keys() == got.keys() and any(k.startswith("optimizer.") and k.endswith("exp_avg_sq") for k in got)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6, msg=key)
    assert result.losses[0] == pytest.approx(trained.losses[2], rel=1e-4)
    assert (out / "checkpoints" / "step-000001").is_dir()  # keep_checkpoints=3 keeps 1, 2, 3

    # The optimizer state that resume loads is exactly the one saved.
    from pixelgif.train import checkpoints
    from pixelgif.train.data import find_examples
    from pixelgif.train.lora.trainer import LoraTrainer, load_base

    cfg = config(sprites, tiny_sd, out, steps=3, resume=True)
    trainer = LoraTrainer(load_base(str(tiny_sd)), find_examples(sprites), cfg, progress=False)
    trainer.load_checkpoint(out / "checkpoints" / "step-000002")
    state = trainer.loop.optimizer.state_dict()
    tensors, meta = checkpoints.load_checkpoint(out / "checkpoints" / "step-000002")
    assert trainer.step == 2 and meta["step"] == 2
    for index, values in state["state"].items():
        for key, value in values.items():
            torch.testing.assert_close(value, tensors[f"optimizer.{index}.{key}"])


def test_resume_refuses_another_runs_checkpoint(trained, tiny_sd, sprites, tmp_path, capsys):
    out = shutil.copytree(trained.output, tmp_path / "copy")
    argv = ["train", str(sprites), "--model", str(tiny_sd), "-o", str(out), "--resume", "--rank", "2",
            "--resolution", "64", "--steps", "4", "-q"]  # fmt: skip
    assert main(argv) == 1
    assert "is from a different run (rank 4 -> 2; alpha 4.0 -> 2.0; resolution 32 -> 64)" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002", "step-000003"]


def test_old_checkpoints_are_pruned_and_options_run(tiny_sd, sprites, tmp_path):
    options = dict(gradient_accumulation=2, gradient_checkpointing=True, warmup_steps=2, lr_scheduler="cosine",
                   resample="lanczos", batch_size=1, crop="random", flip=True, caption_dropout=0.5, cache=False,
                   train_text_encoder=True, trigger_word="pixelartstyle")  # fmt: skip
    out = tmp_path / "opts"
    result = train_lora(config(sprites, tiny_sd, out, steps=3, checkpoint_every=1, keep_checkpoints=2, **options),
                        progress=False, log=quiet)  # fmt: skip
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002", "step-000003"]
    tensors = load_file(str(result.lora))
    assert any(k.startswith("text_encoder.") for k in tensors) and any(k.startswith("unet.") for k in tensors)
    assert all(torch.isfinite(v).all() for v in tensors.values())

    # The text-encoder half loads too: the pipeline's prompt embeddings change.
    from pixelgif.models.loading import load_pipeline

    def embeds(lora=None):
        pipe = load_pipeline(str(tiny_sd), lora=lora, device="cpu")
        return pipe.encode_prompt("a knight", "cpu", 1, False)[0]

    assert (embeds(str(out)) - embeds()).abs().max() > 1e-4


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
def test_min_snr_weighting_follows_the_paper(kind):
    """Min-SNR-gamma: per-sample squared error times min(SNR, gamma) / SNR in epsilon terms."""
    from diffusers import DDPMScheduler

    from pixelgif.train.loop import diffusion_loss

    scheduler = DDPMScheduler(num_train_timesteps=1000, prediction_type=kind)
    clean = torch.randn(64, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    seen = {}

    def forward(noisy, timesteps):
        seen["t"] = timesteps
        return torch.zeros_like(noisy)  # the error is then the target itself

    plain = diffusion_loss(forward, scheduler, clean, torch.Generator().manual_seed(0))
    weighted = diffusion_loss(forward, scheduler, clean, torch.Generator().manual_seed(0), snr_gamma=5.0)
    alphas = scheduler.alphas_cumprod[seen["t"]]
    snr = alphas / (1 - alphas)
    # The paper's weights per target: epsilon min(SNR, 5) / SNR, velocity min(SNR, 5) / (SNR + 1), x0 min(SNR, 5).
    clipped = torch.clamp(snr, max=5.0)
    weights = {"epsilon": clipped / snr, "v_prediction": clipped / (snr + 1), "sample": clipped}[kind]
    generator = torch.Generator().manual_seed(0)
    noise = torch.empty_like(clean).normal_(generator=generator)
    targets = {"epsilon": noise, "sample": clean,
               "v_prediction": scheduler.get_velocity(clean, noise, seen["t"])}[kind]  # fmt: skip
    per_sample = targets.pow(2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(weighted, (per_sample * weights).mean())
    torch.testing.assert_close(plain, per_sample.mean())
    assert not torch.isclose(weighted, plain)
    huge = diffusion_loss(forward, scheduler, clean, torch.Generator().manual_seed(0), snr_gamma=1e12)
    if kind == "epsilon":  # a gamma above every SNR weights nothing: plain MSE
        torch.testing.assert_close(huge, plain)


def test_snr_gamma_flag_reaches_both_recipes_and_is_checked(tiny_sd, sprites, tmp_path, capsys):
    from pixelgif.cli import build_parser
    from pixelgif.cli.train import build_config

    args = ["train", str(sprites), "--model", str(tiny_sd), "-o", str(tmp_path / "o"), "--snr-gamma", "5"]
    assert build_config(build_parser().parse_args(args)).snr_gamma == 5.0
    full = ["train", str(sprites), "--full", "-o", str(tmp_path / "f"), "--snr-gamma", "5"]
    assert build_config(build_parser().parse_args(full)).snr_gamma == 5.0
    code = main(["train", str(sprites), "--model", str(tiny_sd), "-o", str(tmp_path / "bad"), "--snr-gamma", "-1"])
    err = capsys.readouterr().err
    assert code != 0 and "snr_gamma must be 0 (off) or above 0" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()
    result = train_lora(config(sprites, tiny_sd, tmp_path / "snr", steps=2, snr_gamma=5.0), progress=False, log=quiet)
    assert all(math.isfinite(loss) for loss in result.losses)


def test_v_prediction_models_train(tiny_sd, sprites, tmp_path):
    from pixelgif.train.data import find_examples
    from pixelgif.train.lora.trainer import LoraTrainer, load_base

    model = shutil.copytree(tiny_sd, tmp_path / "sd-v")
    scheduler = model / "scheduler" / "scheduler_config.json"
    scheduler.write_text(json.dumps({**json.loads(scheduler.read_text()), "prediction_type": "v_prediction"}))
    cfg = config(sprites, model, tmp_path / "v", steps=1)
    trainer = LoraTrainer(load_base(cfg.model), find_examples(sprites), cfg, progress=False)
    assert trainer.noise_scheduler.config.prediction_type == "v_prediction"
    assert math.isfinite(trainer.train_step())


def test_diverging_loss_stops_with_a_hint_and_no_output(tiny_sd, sprites, tmp_path, monkeypatch):
    from pixelgif.errors import PixelgifError
    from pixelgif.train.lora.trainer import LoraTrainer

    monkeypatch.setattr(LoraTrainer, "batch_loss", lambda self: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(PixelgifError, match="diverged: the loss is nan at step 1; try a lower --learning-rate"):
        train_lora(config(sprites, tiny_sd, tmp_path / "nan", steps=2), progress=False, log=quiet)
    assert os.listdir(tmp_path) == []


def test_cli_trains_with_bf16_from_metadata_csv_and_trigger_word(tiny_sd, tmp_path, capsys):
    data = write_sprites(tmp_path / "data", count=2, captions=False)
    (data / "metadata.csv").write_text('file_name,caption\nsprite0.png,a red knight\nsprite1.png,"a wizard, tall"\n')
    out = tmp_path / "cli"
    argv = ["train", data, "--model", tiny_sd, "-o", out, "--steps", "2", "--resolution", "32", "--batch-size", "2",
            "--gradient-accumulation", "1", "--mixed-precision", "bf16", "--caption-column", "caption",
            "--trigger-word", "pixelartstyle", "--validate-every", "0", "--no-tensorboard", "-q"]  # fmt: skip
    code = main([str(a) for a in argv])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert stdout.startswith(f"wrote {out / 'pytorch_lora_weights.safetensors'} (2 images, 2 steps, last loss ")
    run = json.loads((out / "training.json").read_text())["config"]
    assert run["mixed_precision"] == "bf16" and run["trigger_word"] == "pixelartstyle"
    assert load_file(str(out / "pytorch_lora_weights.safetensors")) and not (out / "tensorboard").exists()


BAD_INPUTS = {
    "missing data": lambda d, o: (["train", d / "nope", "-o", o], "does not exist"),
    "empty data": lambda d, o: (["train", d / "empty", "-o", o], "has no images"),
    "no caption": lambda d, o: (
        ["train", d / "nocap", "-o", o],
        "sprite0.png' has no caption: write it in 'sprite0.txt'",
    ),
    "caption column": lambda d, o: (["train", d / "meta", "-o", o], "has no caption column 'text' (columns: 'caption'"),
    "broken image": lambda d, o: (["train", d / "broken", "-o", o], "broken.png' is broken or not an image"),
    "unknown model": lambda d, o: (["train", d / "ok", "-o", o, "--model", "./no-such-model"], "model not found"),
    "bundled model": lambda d, o: (["train", d / "ok", "-o", o, "--model", "bundled"], "cannot take a LoRA"),
    "steps": lambda d, o: (["train", d / "ok", "-o", o, "--steps", "0"], "steps must be a whole number of at least 1"),
    "rank": lambda d, o: (["train", d / "ok", "-o", o, "--rank", "0"], "rank must be a whole number of at least 1"),
    "alpha": lambda d, o: (["train", d / "ok", "-o", o, "--lora-alpha", "-1"], "lora_alpha must be above 0"),
    "targets": lambda d, o: (["train", d / "ok", "-o", o, "--target-modules", "nope"], "has no layers nope"),
    "file output": lambda d, o: (["train", d / "ok", "-o", o.parent / "x.safetensors"], "names a file: give a folder"),
    "no parent": lambda d, o: (["train", d / "ok", "-o", o / "a" / "b"], "does not exist"),
    "resume": lambda d, o: (["train", d / "ok", "-o", o, "--resume"], "nothing to resume"),
}


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "empty").mkdir()
    write_sprites(root / "nocap", count=1, captions=False)
    write_sprites(root / "ok", count=1)
    meta = write_sprites(root / "meta", count=1, captions=False)
    (meta / "metadata.jsonl").write_text('{"file_name": "sprite0.png", "caption": "a knight"}\n')
    broken = write_sprites(root / "broken", count=1)
    (broken / "broken.png").write_bytes((broken / "sprite0.png").read_bytes()[:40])
    (broken / "broken.txt").write_text("cut short")
    return root


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_writes_nothing(case, bad_data, tiny_sd, tmp_path, capsys):
    out = tmp_path / "out"
    argv, message = BAD_INPUTS[case](bad_data, out)
    if "--model" not in argv:
        argv += ["--model", tiny_sd]
    code = main([str(a) for a in argv] + ["-q"])
    stderr = capsys.readouterr().err
    assert code != 0
    assert len(stderr.strip().splitlines()) == 1 and message in stderr, stderr
    assert os.listdir(tmp_path) == []


def test_output_folder_with_another_run_or_files_is_refused(trained, bad_data, tiny_sd, tmp_path, capsys):
    before = sorted(str(p) for p in trained.output.rglob("*"))
    argv = ["train", str(bad_data / "ok"), "--model", str(tiny_sd), "-q", "-o"]
    assert main([*argv, str(trained.output)]) == 1
    assert "holds another training run; give --resume to continue it" in capsys.readouterr().err
    assert sorted(str(p) for p in trained.output.rglob("*")) == before
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    assert main([*argv, str(tmp_path / "full")]) == 1
    assert "is not empty; give a new or empty folder" in capsys.readouterr().err
    assert os.listdir(tmp_path / "full") == ["notes.txt"]


def test_unwritable_output(bad_data, tiny_sd, tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.access(locked, os.W_OK):  # root ignores folder permissions: make the check see them
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked) else real_access(p, mode))
    code = main(["train", str(bad_data / "ok"), "--model", str(tiny_sd), "-o", str(locked / "run")])
    assert code == 1 and f"folder {str(locked)!r} is not writable" in capsys.readouterr().err


def test_fp16_on_cpu_is_refused(bad_data, tiny_sd, tmp_path, capsys):
    code = main(["train", str(bad_data / "ok"), "--model", str(tiny_sd), "-o", str(tmp_path / "fp16"),
                 "--device", "cpu", "--mixed-precision", "fp16", "-q"])  # fmt: skip
    assert code == 1 and "fp16 needs a CUDA GPU" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
