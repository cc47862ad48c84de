"""LoRA fine-tuning (`pixelgif train`) on the tiny Stable Diffusion: output format, effect, resume, bad input."""

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
from pixelgif.train.lora_data import find_examples
from pixelgif.train.preprocess import resize_and_crop

FAST = {"resolution": 32, "batch_size": 2, "learning_rate": 1e-2}  # a strong LoRA after a few steps


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


@pytest.fixture(scope="module")
def sprites(tmp_path_factory):
    return write_sprites(tmp_path_factory.mktemp("sprites"))


@pytest.fixture(scope="module")
def trained(tiny_sd, sprites, tmp_path_factory):
    """Return the result of 3 steps of training, with a checkpoint every 2 steps."""
    out = tmp_path_factory.mktemp("trained") / "sprites.safetensors"
    config = LoraTrainConfig(data=sprites, model=str(tiny_sd), output=out, steps=3, checkpoint_every=2, **FAST)
    return train_lora(config, progress=False, log=lambda line: None)


def render(pipe, seed=0):
    """Return one 32x32 image of ``pipe`` as a float array."""
    generator = torch.Generator().manual_seed(seed)
    return pipe("a pixel art sprite", num_inference_steps=2, generator=generator, output_type="np").images[0]


def test_output_is_a_diffusers_lora_that_changes_the_image(trained, tiny_sd):
    from diffusers import StableDiffusionPipeline

    from pixelgif.models.loading import load_pipeline

    tensors = load_file(str(trained.output))
    assert tensors and all(k.startswith("unet.") for k in tensors)
    assert {k.rsplit(".", 2)[-2] for k in tensors} == {"down", "up"}  # lora.down/up: diffusers format
    assert all(any(f".{name}.lora" in k for k in tensors) for name in ("to_q", "to_k", "to_v", "to_out.0"))

    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd).to("cpu")
    pipe.set_progress_bar_config(disable=True)
    plain = render(pipe)
    pipe.load_lora_weights(str(trained.output))
    assert pipe.get_list_adapters()["unet"]
    with_lora = render(pipe)
    assert np.abs(with_lora - plain).max() > 1e-3

    # The morph engine's loader (`pixelgif morph --lora OUT`) loads it to the same effect.
    morph_pipe = load_pipeline(str(tiny_sd), lora=str(trained.output), device="cpu")
    np.testing.assert_allclose(render(morph_pipe), with_lora, atol=1e-5)


def test_loss_is_finite_and_counted(trained):
    assert trained.steps == 3 and trained.resumed_from == 0
    assert len(trained.losses) == 3 and all(math.isfinite(x) and x > 0 for x in trained.losses)
    assert trained.output.with_suffix(".checkpoint.pt").is_file()
    leftovers = [p.name for p in trained.output.parent.iterdir() if p.name.startswith(".")]
    assert not leftovers, "no temporary files left behind"


def test_resume_continues_the_step_count_exactly(trained, tiny_sd, sprites, tmp_path):
    out = tmp_path / "resumed.safetensors"
    first = LoraTrainConfig(data=sprites, model=str(tiny_sd), output=out, steps=2, checkpoint_every=1, **FAST)
    assert train_lora(first, progress=False, log=lambda line: None).steps == 2
    lines = []
    again = LoraTrainConfig(data=sprites, model=str(tiny_sd), output=out, steps=3, resume=True, **FAST)
    result = train_lora(again, progress=False, log=lines.append)
    assert (result.resumed_from, result.steps, len(result.losses)) == (2, 3, 1)
    assert "resumed" in lines[0] and "step 2" in lines[0]
    # 2 steps + 1 resumed step make the same LoRA as 3 steps in one go: the random state was saved too.
    expected, got = load_file(str(trained.output)), load_file(str(out))
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6)
    assert result.losses[0] == pytest.approx(trained.losses[2], rel=1e-4)


def test_resume_refuses_another_runs_checkpoint(trained, tiny_sd, sprites, tmp_path):
    shutil.copy(trained.output.with_suffix(".checkpoint.pt"), tmp_path / "x.checkpoint.pt")
    config = LoraTrainConfig(data=sprites, model=str(tiny_sd), output=tmp_path / "x.safetensors", steps=4,
                             resume=True, **{**FAST, "resolution": 64}, rank=4)  # fmt: skip
    with pytest.raises(Exception, match=r"different run \(rank 8 -> 4; resolution 32 -> 64\)"):
        train_lora(config, progress=False, log=lambda line: None)
    assert not (tmp_path / "x.safetensors").exists()


def test_cache_changes_nothing_and_options_run(tiny_sd, sprites, tmp_path):
    def weights(name, **options):
        config = LoraTrainConfig(data=sprites, model=str(tiny_sd), output=tmp_path / name, steps=2,
                                 checkpoint_every=0, **{**FAST, **options})  # fmt: skip
        return load_file(str(train_lora(config, progress=False, log=lambda line: None).output))

    cached, uncached = weights("a.safetensors"), weights("b.safetensors", cache=False)
    for key in cached:
        torch.testing.assert_close(uncached[key], cached[key], rtol=1e-5, atol=1e-6)
    options = weights("c.safetensors", gradient_accumulation=2, gradient_checkpointing=True, warmup_steps=3,
                      resample="lanczos", batch_size=1)  # fmt: skip
    assert options.keys() == cached.keys() and all(torch.isfinite(v).all() for v in options.values())


def test_diverging_loss_stops_with_a_hint_and_no_output(tiny_sd, sprites, tmp_path, monkeypatch):
    from pixelgif.errors import PixelgifError
    from pixelgif.train.lora_trainer import LoraTrainer

    monkeypatch.setattr(LoraTrainer, "batch_loss", lambda self, indices: torch.tensor(float("nan"), requires_grad=True))
    config = LoraTrainConfig(data=sprites, model=str(tiny_sd), output=tmp_path / "nan.safetensors", steps=2, **FAST)
    with pytest.raises(PixelgifError, match="diverged: the loss is nan at step 1; try a lower --learning-rate"):
        train_lora(config, progress=False, log=lambda line: None)
    assert os.listdir(tmp_path) == []


def test_cli_trains_with_bf16_from_metadata_jsonl(tiny_sd, tmp_path, capsys):
    data = write_sprites(tmp_path / "data", count=2, captions=False)
    rows = [{"file_name": f"sprite{i}.png", "text": f"sprite {i}"} for i in range(2)]
    (data / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "cli.safetensors"
    argv = ["train", data, "--model", tiny_sd, "-o", out, "--steps", "2", "--resolution", "32",
            "--mixed-precision", "bf16", "--checkpoint-every", "0", "-q"]  # fmt: skip
    code = main([str(a) for a in argv])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert stdout.startswith(f"wrote {out} (2 steps, last loss ")
    assert "2 images with captions" in stderr
    assert load_file(str(out)) and not out.with_suffix(".checkpoint.pt").exists()


def test_v_prediction_models_train(tiny_sd, sprites, tmp_path):
    from pixelgif.train.lora_trainer import LoraTrainer, load_base

    model = shutil.copytree(tiny_sd, tmp_path / "sd-v")
    scheduler = model / "scheduler" / "scheduler_config.json"
    scheduler.write_text(json.dumps({**json.loads(scheduler.read_text()), "prediction_type": "v_prediction"}))
    config = LoraTrainConfig(data=sprites, model=str(model), output=tmp_path / "v.safetensors", steps=1, **FAST)
    trainer = LoraTrainer(load_base(config.model, "cpu"), find_examples(sprites), config)
    assert trainer.prediction_type == "v_prediction"
    assert math.isfinite(trainer.train_step())


def test_saved_lora_reproduces_the_trained_unet(tiny_sd, sprites, tmp_path):
    from pixelgif.models.loading import load_pipeline
    from pixelgif.train.lora_trainer import LoraTrainer, load_base

    config = LoraTrainConfig(data=sprites, model=str(tiny_sd), output=tmp_path / "r4.safetensors", rank=4, **FAST)
    trainer = LoraTrainer(load_base(config.model, "cpu"), find_examples(sprites), config)
    trainer.train_step()
    trainer.save_lora(config.output)
    trainer.unet.eval()
    inputs = (torch.randn(1, 4, 16, 16), torch.tensor([500]), torch.randn(1, 77, 32))
    loaded = load_pipeline(str(tiny_sd), lora=str(config.output), device="cpu").unet
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs).sample, trainer.unet(*inputs).sample)


def test_examples_from_metadata_and_pixel_art_resizing(tmp_path):
    data = write_sprites(tmp_path / "d", count=2, captions=False)
    (data / "metadata.jsonl").write_text('{"file_name": "sprite1.png", "caption": " two\\nlines "}\n')
    assert find_examples(data, "caption")[0].caption == "two lines"
    with pytest.raises(Exception, match=r"line 1: image 'sprite1.png' has no caption column 'text' \(columns: 'caption'"):
        find_examples(data)

    sprite = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 12), "L").convert("RGB")
    big = np.asarray(resize_and_crop(sprite, 32))
    assert big.shape == (32, 32, 3)
    blocks = big[::8, ::8]  # 4x whole-number upscale of a 4x12 sprite, centre 4x4 art pixels kept
    assert (np.repeat(np.repeat(blocks, 8, 0), 8, 1) == big).all()
    assert blocks[0, 0, 0] == 4  # columns 4..7 of 0..11 survive the centre crop


BAD_INPUTS = {
    "missing data": (lambda d, o: (["train", d / "nope", "-o", o], "does not exist")),
    "empty data": (lambda d, o: (["train", d / "empty", "-o", o], "has no images")),
    "no caption": (lambda d, o: (["train", d / "nocap", "-o", o], "sprite0.png' has no caption: write it in 'sprite0.txt'")),
    "broken image": (lambda d, o: (["train", d / "broken", "-o", o], "broken.png' is broken or not an image")),
    "unknown model": (lambda d, o: (["train", d / "ok", "-o", o, "--model", "./no-such-model"], "no-such-model")),
    "steps": (lambda d, o: (["train", d / "ok", "-o", o, "--steps", "0"], "steps must be a whole number of at least 1")),
    "rank": (lambda d, o: (["train", d / "ok", "-o", o, "--rank", "0"], "rank must be a whole number of at least 1")),
    "suffix": (lambda d, o: (["train", d / "ok", "-o", o.with_suffix(".bin")], "must end in .safetensors")),
    "no folder": (lambda d, o: (["train", d / "ok", "-o", d / "nodir" / "x.safetensors"], "does not exist")),
    "resume": (lambda d, o: (["train", d / "ok", "-o", o, "--resume"], "nothing to resume")),
    "same file": (lambda d, o: (["train", d / "ok", "-o", o, "--checkpoint", o], "checkpoint and output are the same")),
}


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory, tiny_sd):
    root = tmp_path_factory.mktemp("bad")
    (root / "empty").mkdir()
    write_sprites(root / "nocap", count=1, captions=False)
    write_sprites(root / "ok", count=1)
    broken = write_sprites(root / "broken", count=1)
    (broken / "broken.png").write_bytes((broken / "sprite0.png").read_bytes()[:40])
    (broken / "broken.txt").write_text("cut short")
    return root


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_writes_nothing(case, bad_data, tiny_sd, tmp_path, capsys):
    out = tmp_path / "out.safetensors"
    argv, message = BAD_INPUTS[case](bad_data, out)
    if "--model" not in argv:
        argv += ["--model", tiny_sd]
    code = main([str(a) for a in argv])
    stderr = capsys.readouterr().err
    assert code != 0
    assert len(stderr.strip().splitlines()) == 1 and message in stderr, stderr
    assert os.listdir(tmp_path) == []


def test_unwritable_output(bad_data, tiny_sd, tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.access(locked, os.W_OK):  # root ignores folder permissions: make the check see them
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked) else real_access(p, mode))
    code = main(["train", str(bad_data / "ok"), "--model", str(tiny_sd), "-o", str(locked / "x.safetensors")])
    assert code == 1 and f"folder {str(locked)!r} is not writable" in capsys.readouterr().err


def test_fp16_on_cpu_is_refused(bad_data, tiny_sd, tmp_path, capsys):
    out = tmp_path / "fp16.safetensors"
    code = main(["train", str(bad_data / "ok"), "--model", str(tiny_sd), "-o", str(out), "--device", "cpu",
                 "--mixed-precision", "fp16", "-q"])  # fmt: skip
    assert code == 1 and "fp16 needs a CUDA GPU" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
