"""Full training of the sprite model (`pixelgif train --full`): data, output folder, effect, resume, bad input."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from pixelgif.cli import main
from pixelgif.models.bundled import WEIGHTS_DIR
from pixelgif.train.full import FullTrainConfig, check_inputs, sprite_from_image, train_full

# A few cheap steps: small batches, no warm-up, a high rate, tiny validation renders.
FAST = {"batch_size": 4, "warmup_steps": 0, "learning_rate": 1e-3, "validate_every": 0, "checkpoint_every": 0,
        "validation_frames": 2, "validation_steps": 2, "log_every": 1, "tensorboard": False}  # fmt: skip


def art(seed: int, size: int = 8) -> np.ndarray:
    """Return a ``size`` square RGBA sprite of 4 colours with a transparent border."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (4, 3), dtype=np.uint8)
    pixels = np.zeros((size, size, 4), np.uint8)
    pixels[..., :3] = colours[rng.integers(0, 4, (size, size))]
    pixels[1:-1, 1:-1, 3] = 255
    return pixels


def write_sprites(folder, count=4):
    """Write ``count`` sprites, 4x upscaled pixel art, with .txt captions; return ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        big = np.repeat(np.repeat(art(i), 4, 0), 4, 1)
        Image.fromarray(big, "RGBA").save(folder / f"sprite{i}.png")
        (folder / f"sprite{i}.txt").write_text(f"a pixel art sprite number {i}\n")
    return folder


def config(data, output, **options):
    return FullTrainConfig(data=data, output=output, **{**FAST, **options})


def quiet(line):
    pass


@pytest.fixture(scope="module")
def sprites(tmp_path_factory):
    return write_sprites(tmp_path_factory.mktemp("sprites"))


@pytest.fixture(scope="module")
def trained(sprites, tmp_path_factory):
    """Return 4 steps of fine-tuning the shipped weights, with a checkpoint and validation every 2 steps."""
    out = tmp_path_factory.mktemp("full") / "model"
    return train_full(config(sprites, out, steps=4, checkpoint_every=2, validate_every=2), progress=False, log=quiet)


def test_images_become_32px_rgba_sprites_exactly():
    pixels = art(0)
    expected = np.repeat(np.repeat(pixels, 4, 0), 4, 1)
    expected[expected[..., 3] == 0] = (255, 255, 255, 0)  # transparent is white, as in the bundled data
    # A 4x upscale is reduced to its art pixels first, then scaled to 32 by whole pixels.
    upscaled = Image.fromarray(np.repeat(np.repeat(pixels, 3, 0), 3, 1), "RGBA")
    assert np.array_equal(sprite_from_image(upscaled), expected)
    # A wide image is centre-cropped to a square; an image without alpha is opaque.
    wide = np.concatenate([np.zeros((8, 4, 4), np.uint8), pixels, np.zeros((8, 4, 4), np.uint8)], axis=1)
    assert np.array_equal(sprite_from_image(Image.fromarray(wide, "RGBA")), expected)
    opaque = sprite_from_image(Image.fromarray(pixels[..., :3], "RGB"))
    assert opaque.shape == (32, 32, 4) and (opaque[..., 3] == 255).all()


def test_output_folder_is_a_model_with_checkpoints_validation_and_logs(trained):
    out = trained.output
    assert trained.steps == 4 and len(trained.losses) == 4
    marker = json.loads((out / "pixelgif_model.json").read_text())
    assert marker["architecture"] == "bundled" and marker["steps"] == 4 and marker["init"] == "bundled"
    weights = load_file(str(out / "unet" / "diffusion_pytorch_model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.float16}
    assert (out / "scheduler" / "scheduler_config.json").is_file()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002", "step-000004"]
    assert [p.name for p in trained.validation] == ["step-000002.png", "step-000002.gif",
                                                    "step-000004.png", "step-000004.gif"]  # fmt: skip
    with Image.open(out / "validation" / "step-000004.png") as strip:
        assert strip.size == (64, 32)  # the two captions side by side
    run = json.loads((out / "training.json").read_text())
    assert run["format"] == "pixelgif-full-run-1" and run["config"]["steps"] == 4
    logged = [float(line.split()[3]) for line in (out / "log.txt").read_text().splitlines()]
    assert logged == pytest.approx(trained.losses, abs=1e-4)
    assert not [p for p in out.rglob(".*")], "no temporary files left behind"


def test_model_differs_from_the_shipped_one_and_is_the_checkpoints_ema(trained):
    shipped = load_file(str(WEIGHTS_DIR / "unet" / "diffusion_pytorch_model.safetensors"))
    tuned = load_file(str(trained.output / "unet" / "diffusion_pytorch_model.safetensors"))
    assert shipped.keys() == tuned.keys()
    changed = sum(not torch.equal(shipped[k], tuned[k]) for k in shipped)
    assert changed > len(shipped) // 2
    state = load_file(str(trained.output / "checkpoints" / "step-000004" / "state.safetensors"))
    for name, value in tuned.items():
        assert torch.equal(state[f"ema.{name}"].half(), value)


def test_model_folder_morphs_through_the_cli(trained, tmp_path, capsys):
    gif = tmp_path / "morph.gif"
    code = main(["morph", "a pixel art sprite number 1", "a pixel art sprite number 2", "--model", str(trained.output),
                 "--frames", "3", "--steps", "2", "-o", str(gif), "--seed", "1"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    with Image.open(gif) as image:
        assert image.n_frames == 4 and image.size[0] == image.size[1]
    from pixelgif.models import load_pipeline

    pipe = load_pipeline(str(trained.output))
    assert type(pipe).__name__ == "PixelSpritePipeline" and pipe.unet.config.sample_size == 32


def test_resume_continues_exactly_from_the_saved_step(trained, sprites, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    shutil.copy(trained.output / "training.json", out)
    shutil.copytree(trained.output / "checkpoints" / "step-000002", out / "checkpoints" / "step-000002")
    messages = []
    resumed = train_full(config(sprites, out, steps=4, resume=True), progress=False, log=messages.append)
    assert resumed.resumed_from == 2 and resumed.steps == 4 and "at step 2" in messages[0]
    # The same batches, noise and optimizer state as the uninterrupted run.
    assert resumed.losses == pytest.approx(trained.losses[2:], rel=1e-5)
    ours = load_file(str(out / "checkpoints" / "step-000004" / "state.safetensors"))
    theirs = load_file(str(trained.output / "checkpoints" / "step-000004" / "state.safetensors"))
    assert all(torch.allclose(ours[k], theirs[k], atol=1e-6) for k in theirs if k.startswith(("unet.", "ema.")))


def test_loss_on_a_repeated_batch_goes_down_from_scratch(sprites, tmp_path):
    from pixelgif.train.full.trainer import FullTrainer

    cfg = config(sprites, tmp_path / "model", steps=12, init="scratch", caption_dropout=0.0)
    trainer = FullTrainer(check_inputs(cfg), cfg, progress=False)
    shipped = load_file(str(WEIGHTS_DIR / "unet" / "diffusion_pytorch_model.safetensors"))
    assert not torch.equal(trainer.unet.conv_in.weight.half(), shipped["conv_in.weight"])  # random, not shipped
    batch, noise = trainer.rng.bit_generator.state, trainer.noise_generator.get_state()
    losses = []
    for _ in range(12):
        trainer.rng.bit_generator.state = batch  # the same images, captions, noise and timesteps each step
        trainer.noise_generator.set_state(noise)
        losses.append(trainer.train_step())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("case", ["lora flag", "bad init", "no caption", "model", "resume nothing"])
def test_bad_input_is_one_line_and_writes_nothing(case, sprites, tmp_path, capsys):
    data, out = sprites, tmp_path / "out"
    extra = []
    if case == "lora flag":
        extra = ["--rank", "8"]
    elif case == "bad init":
        extra = ["--init", str(sprites)]
    elif case == "no caption":
        data = write_sprites(tmp_path / "data", 2)
        (data / "sprite1.txt").unlink()
    elif case == "model":
        extra = ["--model", "sd2.1"]
    else:
        out.mkdir()
        extra = ["--resume"]
    code = main(["train", str(data), "--full", "-o", str(out), "--steps", "1", "--batch-size", "2", "-q", *extra])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("pixelgif: error: ") and err.count("\n") == 1, err
    assert not out.exists() or not any(out.iterdir())


def test_output_of_another_run_is_refused(trained, sprites, tmp_path, capsys):
    code = main(["train", str(sprites), "--full", "-o", str(trained.output), "--steps", "5", "-q"])
    assert code == 1 and "holds another training run" in capsys.readouterr().err
    lora_run = tmp_path / "lora"
    (lora_run / "checkpoints" / "step-000001").mkdir(parents=True)
    (lora_run / "training.json").write_text("{}")
    (lora_run / "checkpoints" / "step-000001" / "state.json").write_text('{"format": "pixelgif-lora-checkpoint-2"}')
    save_file({"x": torch.zeros(1)}, str(lora_run / "checkpoints" / "step-000001" / "state.safetensors"))
    before = sorted(p.name for p in lora_run.rglob("*"))
    code = main(["train", str(sprites), "--full", "-o", str(lora_run), "--steps", "2", "--resume", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "not a checkpoint of pixelgif train --full" in err, err
    assert sorted(p.name for p in lora_run.rglob("*")) == before
