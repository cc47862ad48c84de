"""The bundled model's data builder, on a handful of emoji images the test makes itself."""

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pixelgif.train.bundled import build
from pixelgif.train.bundled import data as emoji_data


def _write_package(root, package, image_dir, flag, entries):
    folder = root / package / image_dir
    folder.mkdir(parents=True)
    for entry, color in entries:
        image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        ImageDraw.Draw(image).ellipse((8, 8, 56, 56), fill=color)
        image.save(folder / entry["image"])
        entry[flag] = True
    (root / package / "emoji.json").write_text(json.dumps([e for e, _ in entries]))


def _entry(name, code, category="Food & Drink", subcategory="food-fruit", short_names=()):
    return {
        "name": name,
        "unified": code,
        "image": f"{code.lower()}.png",
        "category": category,
        "subcategory": subcategory,
        "short_names": list(short_names),
    }


@pytest.fixture()
def npm_root(tmp_path):
    root = tmp_path / "node_modules"
    _write_package(
        root,
        "emoji-datasource-twitter",
        "img/twitter/64",
        "has_img_twitter",
        [
            (_entry("RED APPLE", "1F34E", short_names=["apple"]), (220, 30, 30, 255)),
            (_entry("BLUE HEART", "1F499", "Smileys & Emotion", "heart", ["blue_heart"]), (30, 60, 220, 255)),
            (_entry("FLAG OF EGYPT", "1F1EA-1F1EC", "Flags", "country-flag"), (0, 0, 0, 255)),
            (_entry("LIGHT SKIN TONE", "1F3FB", "Component", "skin-tone"), (250, 220, 190, 255)),
        ],
    )
    _write_package(
        root,
        "emoji-datasource-google",
        "img/google/64",
        "has_img_google",
        [
            (_entry("RED APPLE", "1F34E", short_names=["apple"]), (200, 20, 40, 255)),
        ],
    )
    return root


def test_captions_are_built_from_name_short_names_and_categories():
    captions = emoji_data.captions_for(_entry("RED APPLE", "1F34E", short_names=["apple"]))
    assert "red apple" in captions
    assert "a red apple, food fruit, food and drink" in captions
    assert "an apple, food fruit" in captions
    assert len(captions) == len(set(captions))


def test_build_dataset_pixelates_sprites_and_skips_flags(npm_root, tmp_path):
    out = tmp_path / "data.npz"
    assert build.main(["--npm", str(npm_root), "-o", str(out)]) == 0
    pixels, meta = emoji_data.load_dataset(out)
    # Flags and skin-tone components are skipped: apple (2 styles) + heart.
    assert pixels.shape == (3, 32, 32, 4) and pixels.dtype == np.uint8
    assert sorted(m["concept"] for m in meta) == ["1F34E", "1F34E", "1F499"]
    assert {m["source"] for m in meta} == {"emoji-datasource-twitter", "emoji-datasource-google"}
    alpha = pixels[..., 3]
    assert set(np.unique(alpha)) == {0, 255}
    # Transparent pixels are white, so the RGB channels alone show the sprite on white.
    assert (pixels[alpha == 0][:, :3] == 255).all()
    # The sprite keeps its colour: the heart is mostly blue where opaque.
    heart = pixels[[m["concept"] for m in meta].index("1F499")]
    opaque = heart[heart[..., 3] == 255][:, :3].astype(int)
    assert (opaque[:, 2] > opaque[:, 0] + 100).mean() > 0.9
    # Pixel art: few colours per sprite.
    for sprite in pixels:
        assert len(np.unique(sprite.reshape(-1, 4), axis=0)) <= emoji_data.SPRITE_COLORS + 1


def test_missing_packages_give_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no emoji packages found"):
        emoji_data.load_sprites(tmp_path)


def test_training_checkpoints_resumes_and_exports(npm_root, tmp_path):
    import torch
    from safetensors.torch import load_file

    from pixelgif.train.bundled import TrainConfig, trainer

    data = emoji_data.save_dataset(emoji_data.load_sprites(npm_root, progress=False), tmp_path / "data.npz")
    config = dict(data=data, out=tmp_path / "run", batch_size=2, checkpoint_every=1, log_every=1)
    checkpoint = trainer.train(TrainConfig(steps=2, **config))
    first = torch.load(checkpoint, weights_only=True)
    assert first["step"] == 2
    trainer.train(TrainConfig(steps=3, **config))  # resumes: one more step, not three
    assert torch.load(checkpoint, weights_only=True)["step"] == 3
    losses = [float(line.split()[3]) for line in (tmp_path / "run" / "log.txt").read_text().splitlines()]
    assert len(losses) == 3 and all(np.isfinite(losses))
    weights = trainer.export(checkpoint, tmp_path / "weights")
    tensors = load_file(weights / "unet" / "diffusion_pytorch_model.safetensors")
    assert {t.dtype for t in tensors.values()} == {torch.float16}
    assert (weights / "scheduler" / "scheduler_config.json").is_file()


def test_export_and_resume_read_the_checkpoint_format(npm_root, tmp_path):
    """A last.pt checkpoint ({"unet", "ema", "optimizer": state dicts, "step": int}) exports and resumes."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file

    from pixelgif.models.bundled.unet import unet_config
    from pixelgif.train import bundled
    from pixelgif.train.bundled import trainer

    torch.manual_seed(3)
    unet, ema = UNet2DConditionModel(**unet_config()), UNet2DConditionModel(**unet_config())
    optimizer = torch.optim.AdamW(unet.parameters(), lr=3e-4, weight_decay=1e-2)
    context = torch.randn(1, 24, 384)
    unet(torch.randn(1, 4, 32, 32), torch.tensor([10]), encoder_hidden_states=context).sample.mean().backward()
    optimizer.step()
    run = tmp_path / "run"
    run.mkdir()
    checkpoint = run / "last.pt"
    state = {"unet": unet.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(), "step": 7}
    torch.save(state, checkpoint)

    assert bundled.main(["export", "--checkpoint", str(checkpoint), "--to", str(tmp_path / "weights")]) == 0
    exported = load_file(tmp_path / "weights" / "unet" / "diffusion_pytorch_model.safetensors")
    assert exported.keys() == ema.state_dict().keys()
    for name, value in ema.state_dict().items():
        assert torch.equal(exported[name], value.half())  # the EMA weights, not the raw ones
    assert (tmp_path / "weights" / "training.txt").read_text() == "exported from step 7\n"

    data = emoji_data.save_dataset(emoji_data.load_sprites(npm_root, progress=False), tmp_path / "data.npz")
    argv = ["train", "--data", str(data), "--out", str(run), "--steps", "8", "--batch-size", "2",
            "--checkpoint-every", "100"]  # fmt: skip
    assert bundled.main(argv) == 0
    state = torch.load(checkpoint, weights_only=True)
    assert set(state) == {"unet", "ema", "optimizer", "step"} and state["step"] == 8
    assert state["optimizer"]["state"][0]["step"].item() == 2  # the saved AdamW state went on by one step

    notes = tmp_path / "weights" / "training.txt"
    notes.write_text("exported from step 7\nwarm start on other data\n")
    trainer.export(checkpoint, tmp_path / "weights")
    assert notes.read_text() == "exported from step 8\nwarm start on other data\n"  # the history stays


def test_learning_rate_warms_up_then_cools_down_linearly():
    from pixelgif.train.bundled.config import TrainConfig

    config = TrainConfig(warmup_steps=10, decay_start=100, decay_steps=50, final_lr_fraction=0.1)
    assert config.lr_factor(0) == pytest.approx(0.1) and config.lr_factor(9) == 1.0
    assert config.lr_factor(99) == 1.0 and config.lr_factor(100) == 1.0
    assert config.lr_factor(125) == pytest.approx(0.55) and config.lr_factor(150) == pytest.approx(0.1)
    assert config.lr_factor(10_000) == pytest.approx(0.1)
    assert TrainConfig(warmup_steps=10).lr_factor(10_000) == 1.0  # no cool-down unless asked
    with pytest.raises(ValueError, match="final_lr_fraction"):
        TrainConfig(final_lr_fraction=0)


def test_the_command_line_is_made_from_the_config_fields():
    import argparse
    from pathlib import Path

    from pixelgif.train.bundled.config import ExportConfig, TrainConfig
    from pixelgif.train.options import add_config_flags, config_from_args

    parser = argparse.ArgumentParser()
    add_config_flags(parser, TrainConfig)
    argv = ["--data", "d.npz", "--out", "runs/x", "--minutes", "120", "--steps", "14400", "--decay-start", "11000",
            "--decay-steps", "4000", "--init-weights", "w", "--bf16", "true"]  # fmt: skip
    assert config_from_args(TrainConfig, parser.parse_args(argv)) == TrainConfig(
        data=Path("d.npz"), out=Path("runs/x"), minutes=120.0, steps=14400, decay_start=11000, decay_steps=4000,
        init_weights="w", bf16=True)  # fmt: skip
    assert config_from_args(TrainConfig, parser.parse_args([])) == TrainConfig()
    parser = argparse.ArgumentParser()
    add_config_flags(parser, ExportConfig)
    assert config_from_args(ExportConfig, parser.parse_args(["--checkpoint", "a.pt", "--to", "w"])) == ExportConfig(
        checkpoint=Path("a.pt"), to=Path("w"))  # fmt: skip
