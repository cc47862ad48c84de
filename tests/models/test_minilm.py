"""The torch-only MiniLM and tokenizer give transformers' tokens and hidden states."""

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from pixelgif.models.bundled.minilm import load_minilm
from pixelgif.models.bundled.text import MAX_TOKENS, sentence_embeddings, text_encoder_path

TEXTS = ["a red dragon", "", "A Blue  WHALE, swimming!", "café naïve 日本 emoji 🐳", "word " * 40, "a"]


@pytest.fixture(scope="module")
def both():
    path = text_encoder_path()
    reference = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    return reference, load_minilm(path)


@pytest.mark.parametrize(
    "options", [dict(padding="max_length", max_length=MAX_TOKENS, truncation=True), dict(padding=True, truncation=True)]
)
def test_tokens_and_states_equal_transformers(both, options):
    (tokenizer, encoder), (our_tokenizer, our_encoder) = both
    expected, got = tokenizer(TEXTS, return_tensors="pt", **options), our_tokenizer(TEXTS, **options)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(expected[key], got[key])
    with torch.no_grad():
        states = encoder(**expected).last_hidden_state
        ours = our_encoder(**got).last_hidden_state
    assert (states - ours).abs().max().item() <= 1e-5


def test_sentence_embeddings_equal_transformers(both):
    (tokenizer, encoder), (our_tokenizer, our_encoder) = both
    expected = sentence_embeddings(tokenizer, encoder, TEXTS)
    got = sentence_embeddings(our_tokenizer, our_encoder, TEXTS)
    assert abs(expected - got).max() <= 1e-6
