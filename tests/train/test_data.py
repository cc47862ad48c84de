"""Training data: folder layouts, datasets tables, image modes, pixel-art resizing, crops, trigger words."""

import json
import sys

import numpy as np
import pytest
from PIL import Image

from pixelgif.errors import PixelgifError
from pixelgif.train.data import find_examples, with_trigger
from pixelgif.train.preprocess import crop_square, reduce_upscaled, resize, resize_and_crop, to_rgb


def art(height=8, width=8, seed=0):
    """Return random RGB pixel art as an array."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def upscale(pixels, factor):
    return np.repeat(np.repeat(pixels, factor, 0), factor, 1)


def test_modes_are_converted_explicitly():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)  # the rest is transparent black
    assert np.asarray(to_rgb(Image.fromarray(rgba, "RGBA")))[0].tolist() == [[10, 20, 30], [255, 255, 255]]
    la = Image.fromarray(np.array([[[50, 255], [0, 0]]], np.uint8), "LA")
    assert np.asarray(to_rgb(la)).tolist() == [[[50, 50, 50], [255, 255, 255]]]
    palette = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    palette.putpalette([200, 0, 0, 0, 0, 0])
    palette.info["transparency"] = 1
    assert np.asarray(to_rgb(palette)).tolist() == [[[200, 0, 0], [255, 255, 255]]]
    cmyk = Image.new("CMYK", (1, 1), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    assert np.asarray(to_rgb(cmyk)).tolist() == [[[255, 0, 0]]]
    deep = Image.fromarray(np.array([[0, 32768, 65535]], np.uint16))  # 16-bit grey: scaled, not clipped
    assert deep.mode.startswith("I")
    assert np.asarray(to_rgb(deep))[0, :, 0].tolist() == [0, 128, 255]
    floats = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), "F")
    assert np.asarray(to_rgb(floats))[0, :, 0].tolist() == [0, 128, 255]
    assert to_rgb(Image.new("1", (1, 1), 1)).getpixel((0, 0)) == (255, 255, 255)


def test_exact_upscales_are_reduced_to_their_art_pixels():
    pixels = art(6, 8)
    small, factor = reduce_upscaled(Image.fromarray(upscale(pixels, 5)))
    assert factor == 5 and (np.asarray(small) == pixels).all()
    photo = Image.fromarray(np.linspace(0, 255, 40 * 40 * 3).reshape(40, 40, 3).astype(np.uint8))
    assert reduce_upscaled(photo)[1] == 1


def test_auto_resize_keeps_pixel_art_crisp_and_smooths_photos():
    pixels = art()
    # 8x8 art shown 8x bigger (64 px) trained at 32 px: back to 8x8, then 4x nearest, every art pixel 4x4.
    big = np.asarray(resize_and_crop(Image.fromarray(upscale(pixels, 8)), 32))
    assert (big == upscale(pixels, 4)).all()
    # A 12x4 sprite: 8x up (96x32) and the centre 32x32 kept, so blocks stay whole.
    sprite = art(4, 12)
    out = np.asarray(resize_and_crop(Image.fromarray(sprite), 32))
    assert (out == upscale(sprite, 8)[:, 32:64]).all()
    # 10x10 art to 32: a whole factor 4 (40 px) and a crop, never a 3.2x stretch.
    ten = resize(Image.fromarray(art(10, 10)), 32)
    assert ten.size == (40, 40)
    # A smooth photo larger than the training size: Lanczos down to the short side.
    ramp = np.linspace(0, 255, 100)[None, :, None].repeat(80, 0).repeat(3, 2).astype(np.uint8)
    photo = resize(Image.fromarray(ramp), 32)
    assert photo.size == (40, 32) and len(np.unique(np.asarray(photo)[0, :, 0])) > 30


def test_crops_and_flips():
    pixels = art(8, 12)
    image = Image.fromarray(pixels)
    assert (crop_square(image, 8) == pixels[:, 2:10]).all()
    assert (crop_square(image, 8, (4, 0)) == pixels[:, 4:12]).all()
    assert (crop_square(image, 8, (0, 0), flip=True) == pixels[:, 7::-1]).all()


def test_trigger_word_is_appended():
    assert with_trigger("a knight", "pixelartstyle") == "a knight, pixelartstyle"
    assert with_trigger("a knight", ", pixelartstyle") == "a knight, pixelartstyle"
    assert with_trigger("a knight", " in pixel art") == "a knight in pixel art"
    assert with_trigger("", "pixelartstyle") == "pixelartstyle"


def write_images(folder, count=2):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(art(seed=i)).save(folder / f"img{i}.png")
    return folder


def test_folder_layouts(tmp_path):
    # imagefolder: metadata.jsonl inside train/, with the caption column chosen.
    data = tmp_path / "hf"
    write_images(data / "train")
    rows = [{"file_name": f"img{i}.png", "prompt": f" sprite\n{i} "} for i in range(2)]
    (data / "train" / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = find_examples(data, caption_column="prompt", trigger_word="pixelartstyle")
    assert [e.caption for e in examples] == ["sprite 0, pixelartstyle", "sprite 1, pixelartstyle"]
    assert (np.asarray(examples[1].open()) == art(seed=1)).all()
    # metadata.csv
    csv = write_images(tmp_path / "csv")
    (csv / "metadata.csv").write_text("file_name,text\nimg0.png,a cat\nimg1.png,a dog\n")
    assert [e.caption for e in find_examples(csv)] == ["a cat", "a dog"]
    # .txt captions beside the images, nested, hidden folders skipped
    txt = write_images(tmp_path / "txt" / "sub")
    for i in range(2):
        (txt / f"img{i}.txt").write_text(f"thing {i}")
    write_images(tmp_path / "txt" / ".cache", 1)
    assert [e.path.name for e in find_examples(tmp_path / "txt")] == ["img0.png", "img1.png"]


def test_metadata_naming_a_missing_image(tmp_path):
    data = write_images(tmp_path / "d", 1)
    (data / "metadata.jsonl").write_text('{"file_name": "gone.png", "text": "x"}\n')
    with pytest.raises(PixelgifError, match=r"line 1 names image .*gone.png', which does not exist"):
        find_examples(data)


@pytest.fixture()
def parquet(tmp_path):
    datasets = pytest.importorskip("datasets")
    import io

    images = []
    for i in range(2):
        buffer = io.BytesIO()
        indexed = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8), "P")  # a palette image: converted on use
        indexed.putpalette(art(seed=i).reshape(-1).tolist())
        indexed.save(buffer, format="PNG")
        images.append({"bytes": buffer.getvalue(), "path": None})
    table = datasets.Dataset.from_dict({"sprite": images, "caption": ["a red thing", "a blue thing"]})
    path = tmp_path / "sprites.parquet"
    table.cast_column("sprite", datasets.Image()).to_parquet(str(path))
    return path


def test_datasets_table_columns(parquet):
    examples = find_examples(parquet, caption_column="caption", image_column="sprite")
    assert [e.caption for e in examples] == ["a red thing", "a blue thing"]
    assert examples[0].name == f"row 0 of {str(parquet)!r}"
    assert (np.asarray(to_rgb(examples[1].open())) == art(seed=1)).all()
    message = r"has no image column 'image' \(columns: 'sprite', 'caption'\); choose one with --image-column"
    with pytest.raises(PixelgifError, match=message):
        find_examples(parquet, caption_column="caption")
    with pytest.raises(PixelgifError, match=r"has no caption column 'text' .* --caption-column"):
        find_examples(parquet, image_column="sprite")


def test_cli_trains_from_a_parquet_table(parquet, tiny_sd, tmp_path, capsys):
    from safetensors.torch import load_file

    from pixelgif.cli import main

    out = tmp_path / "run"
    argv = ["train", parquet, "--model", tiny_sd, "-o", out, "--image-column", "sprite", "--caption-column", "caption",
            "--steps", "1", "--resolution", "32", "--batch-size", "2", "--gradient-accumulation", "1",
            "--validate-every", "0", "--no-tensorboard", "-q"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    assert load_file(str(out / "pytorch_lora_weights.safetensors"))


def test_missing_datasets_package_gives_an_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if not installed
    with pytest.raises(PixelgifError, match=r"needs the datasets package: pip install datasets"):
        find_examples("someone/pixel-sprites")
    (tmp_path / "t.parquet").write_bytes(b"x")
    with pytest.raises(PixelgifError, match="needs the datasets package"):
        find_examples(tmp_path / "t.parquet")


def test_unreachable_hub_data_set_is_one_clear_error():
    pytest.importorskip("datasets")  # the suite runs offline (HF_HUB_OFFLINE=1): the hub is not asked
    with pytest.raises(PixelgifError, match=r"data set 'someone/no-such-sprites' could not be loaded"):
        find_examples("someone/no-such-sprites")
