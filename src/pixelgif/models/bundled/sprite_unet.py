"""The bundled denoiser as a small torch module: diffusers' ``UNet2DConditionModel`` for the
bundled architecture (and any config of the same kind), without diffusers.

Why: importing diffusers (and peft, which it pulls in) took longer than everything else of a cold
morph on a 2-core CPU, and its general-purpose UNet spends most of a 32x32 forward pass in Python
(hooks, processors, options this model never uses). This module has the same parameter names,
so it loads the same ``diffusion_pytorch_model.safetensors`` (`load_sprite_unet`), and returns the
same noise prediction (tests/models/test_sprite_unet.py compares it with the diffusers UNet).

Supported: down blocks ``DownBlock2D``/``CrossAttnDownBlock2D``, up blocks ``UpBlock2D``/
``CrossAttnUpBlock2D``, the ``UNetMidBlock2DCrossAttn`` mid block, positional time embedding,
SiLU, plain layer-norm transformer blocks; `unsupported` says why another config is not (the
loader then falls back to diffusers).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"

# Config values this module implements (diffusers' defaults for the bundled architecture); any
# other value of these keys needs diffusers' UNet.
_REQUIRED: dict[str, tuple[Any, ...]] = {
    "act_fn": ("silu",),
    "addition_embed_type": (None,),
    "attention_type": ("default",),
    "center_input_sample": (False,),
    "class_embed_type": (None,),
    "conv_in_kernel": (3,),
    "conv_out_kernel": (3,),
    "cross_attention_norm": (None,),
    "downsample_padding": (1,),
    "dual_cross_attention": (False,),
    "encoder_hid_dim": (None,),
    "encoder_hid_dim_type": (None,),
    "mid_block_only_cross_attention": (None, False),
    "mid_block_scale_factor": (1, 1.0),
    "mid_block_type": ("UNetMidBlock2DCrossAttn",),
    "num_class_embeds": (None,),
    "only_cross_attention": (False,),
    "resnet_out_scale_factor": (1, 1.0),
    "resnet_skip_time_act": (False,),
    "resnet_time_scale_shift": ("default",),
    "reverse_transformer_layers_per_block": (None,),
    "time_cond_proj_dim": (None,),
    "time_embedding_act_fn": (None,),
    "time_embedding_dim": (None,),
    "time_embedding_type": ("positional",),
    "timestep_post_act": (None,),
    "transformer_layers_per_block": (1,),
}
_DEFAULTS: dict[str, Any] = {
    "sample_size": 32, "in_channels": 4, "out_channels": 4, "flip_sin_to_cos": True, "freq_shift": 0,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "block_out_channels": (320, 640, 1280, 1280), "layers_per_block": 2, "norm_num_groups": 32, "norm_eps": 1e-5,
    "cross_attention_dim": 1280, "attention_head_dim": 8, "num_attention_heads": None,
    "use_linear_projection": False, "upcast_attention": False,
}  # fmt: skip


def unsupported(config: dict) -> str | None:
    """Return why this module cannot run a UNet of ``config`` (a diffusers config.json), or None."""
    for key, allowed in _REQUIRED.items():
        if config.get(key, allowed[0]) not in allowed:
            return f"{key}={config[key]!r}"
    if config.get("_class_name", "UNet2DConditionModel") != "UNet2DConditionModel":
        return f"class {config['_class_name']}"
    merged = {**_DEFAULTS, **config}
    if set(merged["down_block_types"]) - {"DownBlock2D", "CrossAttnDownBlock2D"}:
        return f"down blocks {merged['down_block_types']}"
    if set(merged["up_block_types"]) - {"UpBlock2D", "CrossAttnUpBlock2D"}:
        return f"up blocks {merged['up_block_types']}"
    for key in ("layers_per_block", "cross_attention_dim", "norm_num_groups"):
        if not isinstance(merged[key], int):
            return f"{key}={merged[key]!r} (per block)"
    return None


class _Config(SimpleNamespace):
    """The UNet's config: attribute access as diffusers' (``unet.config.in_channels``), plus ``get``."""

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


class ResnetBlock(nn.Module):
    """diffusers' ``ResnetBlock2D`` (default time-embedding shift, no up/down sampling)."""

    def __init__(self, cin: int, cout: int, temb: int, groups: int, eps: float):
        super().__init__()
        self.groups, self.eps = groups, eps
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(temb)[:, :, None, None]  # temb is silu'd once by the caller
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


class Attention(nn.Module):
    """diffusers' ``Attention`` with its default processor (scaled dot-product attention)."""

    def __init__(self, dim: int, context_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        batch, heads = x.shape[0], self.heads
        q = self.to_q(x).view(batch, -1, heads, x.shape[-1] // heads).transpose(1, 2)
        k = self.to_k(context).view(batch, -1, heads, x.shape[-1] // heads).transpose(1, 2)
        v = self.to_v(context).view(batch, -1, heads, x.shape[-1] // heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out[0](out.transpose(1, 2).reshape(batch, -1, x.shape[-1]))


class GEGLU(nn.Module):
    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * 4), nn.Dropout(0.0), nn.Linear(dim * 4, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[2](self.net[0](x))


class TransformerBlock(nn.Module):
    """diffusers' ``BasicTransformerBlock``: self-attention, cross-attention, GEGLU feed-forward."""

    def __init__(self, dim: int, context_dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, context_dim, heads)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = self.attn1(h, h) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class Transformer2D(nn.Module):
    """diffusers' ``Transformer2DModel`` on a feature map: norm, project in, blocks, project out, residual."""

    def __init__(self, dim: int, context_dim: int, heads: int, groups: int, linear: bool):
        super().__init__()
        self.linear = linear
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6)
        self.proj_in: nn.Module = nn.Linear(dim, dim) if linear else nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([TransformerBlock(dim, context_dim, heads)])
        self.proj_out: nn.Module = nn.Linear(dim, dim) if linear else nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        h = self.norm(x)
        if not self.linear:
            h = self.proj_in(h)
        h = h.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
        if self.linear:
            h = self.proj_in(h)
        for block in self.transformer_blocks:
            h = block(h, context)
        if self.linear:
            h = self.proj_out(h)
        h = h.reshape(batch, height, width, channels).permute(0, 3, 1, 2)
        if not self.linear:
            h = self.proj_out(h.contiguous())
        return h + x


class _Sampler(nn.Module):
    """Down- or upsampler: a 3x3 conv (stride 2 down; after nearest 2x upsampling up), named ``conv``."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=stride, padding=1)


class Block(nn.Module):
    """One down or up block: resnets, optionally each followed by a transformer, then the sampler."""

    def __init__(self, resnets: list[ResnetBlock], attentions: list[Transformer2D] | None, sampler: _Sampler | None,
                 up: bool):  # fmt: skip
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        if attentions:
            self.attentions = nn.ModuleList(attentions)
        if sampler is not None:
            setattr(self, "upsamplers" if up else "downsamplers", nn.ModuleList([sampler]))
        # The same modules again as plain attributes for the forward pass (typed, and no nn.Module
        # attribute lookups per call), kept out of the state dict: they have their diffusers names above.
        self.__dict__["steps"] = [(r, attentions[j] if attentions else None) for j, r in enumerate(resnets)]
        self.__dict__["sampler"] = sampler
        self.steps: list[tuple[ResnetBlock, Transformer2D | None]]
        self.sampler: _Sampler | None


class MidBlock(nn.Module):
    def __init__(self, channels: int, temb: int, context_dim: int, heads: int, groups: int, eps: float, linear: bool):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock(channels, channels, temb, groups, eps) for _ in range(2)])
        self.attentions = nn.ModuleList([Transformer2D(channels, context_dim, heads, groups, linear)])

    def forward(self, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.resnets[0](x, temb)
        return self.resnets[1](self.attentions[0](x, context), temb)


class TimestepEmbedding(nn.Module):
    def __init__(self, cin: int, dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))


class SpriteUNet(nn.Module):
    """``UNet2DConditionModel`` of a supported config; ``forward`` returns the noise prediction tensor."""

    frequencies: torch.Tensor

    def __init__(self, **config: Any):
        super().__init__()
        reason = unsupported(config)
        if reason is not None:
            raise ValueError(f"SpriteUNet does not implement {reason}")
        c = {**_DEFAULTS, **config}
        self.config = _Config(**c)
        channels = list(c["block_out_channels"])
        heads = c["num_attention_heads"] or c["attention_head_dim"]
        heads = list(heads) if isinstance(heads, (list, tuple)) else [heads] * len(channels)
        groups, eps, layers = c["norm_num_groups"], c["norm_eps"], c["layers_per_block"]
        context, linear = c["cross_attention_dim"], c["use_linear_projection"]
        temb = channels[0] * 4
        self.time_dim = channels[0]
        self.conv_in = nn.Conv2d(c["in_channels"], channels[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(channels[0], temb)

        def transformers(dim: int, count: int, head: int) -> list[Transformer2D]:
            return [Transformer2D(dim, context, head, groups, linear) for _ in range(count)]

        down = []
        for i, kind in enumerate(c["down_block_types"]):
            cin, cout, last = channels[max(i - 1, 0)], channels[i], i == len(channels) - 1
            resnets = [ResnetBlock(cin if j == 0 else cout, cout, temb, groups, eps) for j in range(layers)]
            attentions = transformers(cout, layers, heads[i]) if kind.startswith("CrossAttn") else None
            down.append(Block(resnets, attentions, None if last else _Sampler(cout, 2), up=False))
        self.down_blocks = nn.ModuleList(down)
        self.__dict__["down"] = down  # typed, for the forward pass (see Block)
        self.down: list[Block]
        self.mid_block = MidBlock(channels[-1], temb, context, heads[-1], groups, eps, linear)
        up = []
        rev, rev_heads = channels[::-1], heads[::-1]
        for i, kind in enumerate(c["up_block_types"]):
            prev, cout, cin = rev[max(i - 1, 0)], rev[i], rev[min(i + 1, len(rev) - 1)]
            resnets = []
            for j in range(layers + 1):
                skip = cin if j == layers else cout
                resnets.append(ResnetBlock((prev if j == 0 else cout) + skip, cout, temb, groups, eps))
            attentions = transformers(cout, layers + 1, rev_heads[i]) if kind.startswith("CrossAttn") else None
            last = i == len(rev) - 1
            up.append(Block(resnets, attentions, None if last else _Sampler(cout, 1), up=True))
        self.up_blocks = nn.ModuleList(up)
        self.__dict__["up"] = up
        self.up: list[Block]
        self.conv_norm_out = nn.GroupNorm(groups, channels[0], eps=eps)
        self.conv_out = nn.Conv2d(channels[0], c["out_channels"], 3, padding=1)
        self.register_buffer("frequencies", _frequencies(channels[0] // 2, c["freq_shift"]), persistent=False)

    @property
    def dtype(self) -> torch.dtype:
        return self.conv_in.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.conv_in.weight.device

    def time_embed(self, timestep, batch: int, dtype: torch.dtype) -> torch.Tensor:
        """Return the (B, 4 * channels) time embedding, SiLU applied (every resnet uses it so).

        One row per sample even for one timestep, as diffusers computes it: a single row broadcast
        over the batch is as right but takes another matrix-multiply path, whose last bits differ.
        """
        t = torch.as_tensor(timestep, device=self.frequencies.device)
        t = t.reshape(-1).expand(batch)
        args = t[:, None].float() * self.frequencies[None, :]
        emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
        if self.config.flip_sin_to_cos:
            half = self.time_dim // 2
            emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
        return F.silu(self.time_embedding(emb.to(dtype)))

    def forward(self, sample: torch.Tensor, timestep, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        """Return the noise prediction for ``sample`` (B, C, H, W) at ``timestep`` (a number, or one per sample)."""
        temb = self.time_embed(timestep, sample.shape[0], sample.dtype)
        context = encoder_hidden_states
        h = self.conv_in(sample)
        skips = [h]
        for block in self.down:
            for resnet, attention in block.steps:
                h = resnet(h, temb)
                if attention is not None:
                    h = attention(h, context)
                skips.append(h)
            if block.sampler is not None:
                h = block.sampler.conv(h)
                skips.append(h)
        h = self.mid_block(h, temb, context)
        for block in self.up:
            for resnet, attention in block.steps:
                h = resnet(torch.cat([h, skips.pop()], dim=1), temb)
                if attention is not None:
                    h = attention(h, context)
            if block.sampler is not None:
                size = skips[-1].shape[-2:]
                if size[0] == 2 * h.shape[-2] and size[1] == 2 * h.shape[-1]:
                    h = F.interpolate(h, scale_factor=2.0, mode="nearest")
                else:  # odd sizes: diffusers upsamples to the skip connection's size
                    h = F.interpolate(h, size=size, mode="nearest")
                h = block.sampler.conv(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


def _frequencies(half: int, shift: float) -> torch.Tensor:
    """Return the sinusoidal time embedding's frequencies, computed as diffusers computes them."""
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32) / (half - shift)
    return torch.exp(exponent)


@contextmanager
def no_init() -> Iterator[None]:
    """Build modules without initialising their parameters (the weights file replaces every one).

    Random initialisation took half of the bundled model's load; the meta device would avoid it
    too, but initialising meta tensors goes through torch's reference implementations, whose first
    use imports torch._dynamo (seconds of a cold start). Not thread-safe: for loading only.
    """
    names = ("kaiming_uniform_", "uniform_", "normal_", "zeros_", "ones_", "trunc_normal_")
    saved = {name: getattr(nn.init, name) for name in names}
    for name in names:
        setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def read_config(folder: Path) -> dict:
    """Return the UNet config.json in ``folder``."""
    return json.loads((Path(folder) / "config.json").read_text())


def load_sprite_unet(folder: Path, dtype: torch.dtype = torch.float32) -> SpriteUNet:
    """Return the `SpriteUNet` in the diffusers UNet folder ``folder`` (config.json + safetensors) in ``dtype``.

    Raises ValueError when the config is not supported (`unsupported`) or the weights do not fit it.
    """
    from safetensors.torch import load_file

    config = {k: v for k, v in read_config(folder).items() if not k.startswith("_")}
    with no_init():
        unet = SpriteUNet(**config)
    weights = load_file(str(Path(folder) / WEIGHTS_FILE))
    state = {k: v.to(dtype) for k, v in weights.items()}
    missing, unexpected = unet.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        raise ValueError(
            f"UNet weights in {folder} do not fit its config: {len(missing)} missing (e.g. {missing[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
    return unet.eval().requires_grad_(False)
