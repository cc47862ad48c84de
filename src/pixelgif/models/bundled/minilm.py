"""MiniLM (a 6-layer BERT) and its tokenizer without transformers: the bundled model's text encoder.

Importing transformers' BERT took longer on a 2-core CPU than running MiniLM on every prompt of a
morph. This is the same computation as transformers' ``BertModel`` (last hidden state, padding
masked out of the attention) on the same ``model.safetensors``, and the tokenizer is the package's
``tokenizer.json`` run by the ``tokenizers`` library (what transformers' fast tokenizer runs too),
padded and truncated as transformers does. tests/models/test_minilm.py compares both with
transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class Tokens(dict):
    """What transformers' tokenizer returns with ``return_tensors="pt"``: ``input_ids``, ``token_type_ids``
    and ``attention_mask``, (B, L) int64, as keys (``encoder(**tokens)``) and attributes."""

    def __getattr__(self, name: str) -> torch.Tensor:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class MiniLMTokenizer:
    """A BERT WordPiece tokenizer called like transformers' (``padding``, ``max_length``, ``truncation``)."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        settings = json.loads((Path(folder) / "tokenizer_config.json").read_text())
        self.model_max_length = int(settings.get("model_max_length", 512))
        self.pad_token = settings.get("pad_token", "[PAD]")
        self.pad_token_id = self._tokenizer.token_to_id(self.pad_token)

    def __call__(self, texts: str | list[str], padding: bool | str = False, max_length: int | None = None,
                 truncation: bool = False, return_tensors: str = "pt") -> Tokens:  # fmt: skip
        """Return the tokens of ``texts``: ``padding`` "max_length" (to ``max_length``) or True (to the
        longest); ``truncation`` to ``max_length`` (default: the model's maximum)."""
        if return_tensors != "pt":
            raise ValueError("MiniLMTokenizer returns torch tensors only (return_tensors='pt')")
        texts = [texts] if isinstance(texts, str) else list(texts)
        tokenizer = self._tokenizer
        limit = max_length or self.model_max_length
        if truncation:
            tokenizer.enable_truncation(limit)
        else:
            tokenizer.no_truncation()
        if padding == "max_length":
            tokenizer.enable_padding(length=limit, pad_id=self.pad_token_id, pad_token=self.pad_token)
        elif padding:
            tokenizer.enable_padding(pad_id=self.pad_token_id, pad_token=self.pad_token)
        else:
            tokenizer.no_padding()
        encodings = tokenizer.encode_batch(texts)
        return Tokens(
            input_ids=torch.tensor([e.ids for e in encodings], dtype=torch.int64),
            token_type_ids=torch.tensor([e.type_ids for e in encodings], dtype=torch.int64),
            attention_mask=torch.tensor([e.attention_mask for e in encodings], dtype=torch.int64),
        )


class SelfAttention(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)


class DenseNorm(nn.Module):
    """BERT's output sublayer: dense, then LayerNorm of (it + the residual)."""

    def __init__(self, cin: int, dim: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(cin, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.self = SelfAttention(dim)
        self.output = DenseNorm(dim, dim, eps)


class Intermediate(nn.Module):
    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.dense = nn.Linear(dim, inner)


class Layer(nn.Module):
    def __init__(self, dim: int, inner: int, heads: int, eps: float):
        super().__init__()
        self.heads = heads
        self.attention = Attention(dim, eps)
        self.intermediate = Intermediate(dim, inner)
        self.output = DenseNorm(inner, dim, eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        attn = self.attention.self

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)

        context = F.scaled_dot_product_attention(split(attn.query(x)), split(attn.key(x)), split(attn.value(x)),
                                                 attn_mask=mask)  # fmt: skip
        x = self.attention.output(context.transpose(1, 2).reshape(batch, length, dim), x)
        return self.output(F.gelu(self.intermediate.dense(x)), x)


class Embeddings(nn.Module):
    def __init__(self, vocab: int, dim: int, positions: int, types: int, eps: float):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)
        self.position_embeddings = nn.Embedding(positions, dim)
        self.token_type_embeddings = nn.Embedding(types, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)

    def forward(self, ids: torch.Tensor, types: torch.Tensor | None) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        kinds = self.token_type_embeddings.weight[0] if types is None else self.token_type_embeddings(types)
        return self.LayerNorm(self.word_embeddings(ids) + kinds + self.position_embeddings(positions))


class Encoder(nn.Module):
    layer: nn.ModuleList


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor


class MiniLM(nn.Module):
    """transformers' ``BertModel`` (absolute positions, GELU) up to its last hidden state."""

    def __init__(self, config: dict):
        super().__init__()
        if (
            config.get("hidden_act", "gelu") != "gelu"
            or config.get("position_embedding_type", "absolute") != "absolute"
        ):
            raise ValueError("MiniLM implements BERT with GELU and absolute positions only")
        dim, eps = config["hidden_size"], config["layer_norm_eps"]
        self.config = config
        self.embeddings = Embeddings(config["vocab_size"], dim, config["max_position_embeddings"],
                                     config["type_vocab_size"], eps)  # fmt: skip
        self.encoder = Encoder()
        self.encoder.layer = nn.ModuleList(
            [Layer(dim, config["intermediate_size"], config["num_attention_heads"], eps)
             for _ in range(config["num_hidden_layers"])]
        )  # fmt: skip

    @property
    def dtype(self) -> torch.dtype:
        return self.embeddings.word_embeddings.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.embeddings.word_embeddings.weight.device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> EncoderOutput:  # fmt: skip
        x = self.embeddings(input_ids, token_type_ids)
        mask = None
        if attention_mask is not None:  # keys that are padding take no attention
            mask = attention_mask[:, None, None, :].to(torch.bool)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return EncoderOutput(x)


def load_minilm(folder: Path, dtype: torch.dtype = torch.float32) -> tuple[MiniLMTokenizer, MiniLM]:
    """Return ``(tokenizer, encoder)`` of the BERT model in ``folder`` (config.json, model.safetensors, tokenizer.json)."""
    from safetensors import safe_open

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    from .sprite_unet import no_init

    with no_init():
        model = MiniLM(config)
    wanted = set(model.state_dict())
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        prefix = "bert." if any(k.startswith("bert.") for k in f.keys()) else ""  # noqa: SIM118
        state = {k: f.get_tensor(prefix + k).to(dtype) for k in wanted}
    model.load_state_dict(state, assign=True)
    return MiniLMTokenizer(folder), model.eval().requires_grad_(False)
