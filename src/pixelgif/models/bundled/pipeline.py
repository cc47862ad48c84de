"""PixelSpritePipeline: text -> 32x32 RGBA sprite, a diffusion pipeline with no VAE.

It has the interface the morph engine expects of Stable Diffusion: ``encode_prompt`` once per
prompt, and ``__call__`` from ``prompt_embeds``/``negative_prompt_embeds`` and initial ``latents``.
It is not a diffusers ``DiffusionPipeline`` (importing diffusers costs seconds on a small CPU):
the bundled model loads as torch-only modules (`sprite_unet`, `minilm`, `samplers`), and the
pipeline runs as well over diffusers' UNet, a transformers text encoder and diffusers' schedulers
(training validates with those).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .colours import has_colour, named_colour, recolour
from .cpu_shards import run_sharded
from .onnx_session import session_threads
from .text import MAX_TOKENS

EMBEDDING_MEMO = 64  # text embeddings a pipeline remembers (each a few tens of kilobytes)


@dataclass
class SpriteOutput:
    """The rendered sprites (diffusers' ``ImagePipelineOutput``)."""

    images: Any


class PixelSpritePipeline:
    """Pixel-space text-to-sprite diffusion: UNet + MiniLM text encoder + scheduler."""

    # Sample suggestions: the morph engine uses these when the user leaves them unset. Six
    # DPM-Solver++ steps draw what twelve did (benchmarks/bundled_steps.py) in half the time.
    default_num_inference_steps = 6
    default_guidance_scale = 7.0
    # Small UNet: per-call overhead dominates, so bigger batches are much faster on CPU (measured:
    # 16 frames denoised in 5.5 s at batch 4, 3.6 s at batch 16).
    default_batch_size = 16

    def __init__(self, unet, text_encoder, tokenizer, scheduler):
        self.unet, self.text_encoder, self.tokenizer, self.scheduler = unet, text_encoder, tokenizer, scheduler
        # Pixel space: one latent pixel per image pixel.
        self.vae_scale_factor = 1
        self.library = None  # the bundled weights come with their sprite library (`library.SpriteLibrary`)
        # Text embeddings already computed (a studio or batch embeds the same prompts again), by
        # texts, device and dtype; kept only while the text encoder is frozen (see `_frozen_text`).
        self._embeddings: OrderedDict[tuple, Any] = OrderedDict()
        # The UNet on ONNX Runtime (`onnx_unet.OnnxUNet`), used on the CPU in float32 when set
        # (`load_bundled_pipeline` sets it where the shipped graph fits the UNet).
        self.onnx_unet: Any = None

    # -- what the engine and the loaders use of a diffusers pipeline ------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def _execution_device(self) -> torch.device:
        return self.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    def to(self, *args, **kwargs) -> PixelSpritePipeline:
        """Move the UNet and text encoder to a device and/or dtype, as ``DiffusionPipeline.to`` does."""
        for module in (self.unet, self.text_encoder):
            module.to(*args, **kwargs)
        if self.onnx_unet is not None:  # its weights are the module's as they were: take them again
            from .onnx_unet import onnx_unet_for

            self.onnx_unet = onnx_unet_for(self.unet)
        return self

    def set_progress_bar_config(self, **kwargs) -> None:
        """Accepted for diffusers compatibility: this pipeline shows no progress bar (the engine shows one)."""

    @staticmethod
    def scheduler_for(class_name: str, config, **options):
        """Return diffusers' ``class_name.from_config(config, **options)`` as a sampler of `samplers`
        (no diffusers import), or None when it is not one of those (the engine then uses diffusers)."""
        from .samplers import scheduler_for

        return scheduler_for(class_name, dict(config), **options)

    def library_sprite(self, prompt: str, seed: int):
        """Return (RGBA PIL sprite, `library.LibraryMatch`) of the library drawing ``prompt`` names, or None."""
        if self.library is None:
            return None
        from PIL import Image

        from .text import sentence_embeddings

        def embed(texts: list[str]) -> np.ndarray:
            return self._remembered(("sentences", tuple(texts)),
                                    lambda: sentence_embeddings(self.tokenizer, self.text_encoder, texts))  # fmt: skip

        found = self.library.find(prompt, embed, seed)
        if found is None:
            return None
        sprite, match = found
        return Image.fromarray(sprite, "RGBA"), match

    @property
    def colour_words(self):
        """Return how a keyframe render is turned to the colour its prompt names (the library's recolouring)."""
        from ...morph.backend import ColourWords

        return ColourWords(named=lambda prompt: named_colour(prompt)[0], recolour=recolour_render)

    # -- 1. text ---------------------------------------------------------------------------------
    def _remembered(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """Return ``compute()`` (a tensor or array), remembered under ``key`` while the text encoder is frozen."""
        if any(parameter.requires_grad for parameter in self.text_encoder.parameters()):
            return compute()  # being trained: its answers change
        if key not in self._embeddings:
            self._embeddings[key] = compute()
            while len(self._embeddings) > EMBEDDING_MEMO:
                self._embeddings.popitem(last=False)
        self._embeddings.move_to_end(key)
        return (
            self._embeddings[key].copy()
            if isinstance(self._embeddings[key], np.ndarray)
            else self._embeddings[key].clone()
        )

    @torch.no_grad()
    def _embed(self, texts: list[str], device) -> torch.Tensor:
        def compute() -> torch.Tensor:
            tokens = self.tokenizer(
                texts, padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt"
            )
            states = self.text_encoder(
                input_ids=tokens.input_ids.to(self.text_encoder.device),
                attention_mask=tokens.attention_mask.to(self.text_encoder.device),
            ).last_hidden_state
            return states.to(device=device, dtype=self.unet.dtype)

        return self._remembered(("states", tuple(texts), str(device), self.unet.dtype), compute)

    def encode_prompt(
        self,
        prompt,
        device=None,
        num_images_per_prompt: int = 1,
        do_classifier_free_guidance: bool = True,
        negative_prompt=None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        **_ignored,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return ``(prompt_embeds, negative_prompt_embeds)``, each (B, MAX_TOKENS, 384)."""
        device = device or self._execution_device
        if prompt_embeds is None:
            prompts = [prompt] if isinstance(prompt, str) else list(prompt)
            prompt_embeds = self._embed(prompts, device)
        batch = prompt_embeds.shape[0]
        if do_classifier_free_guidance and negative_prompt_embeds is None:
            negatives = negative_prompt or ""
            negatives = [negatives] * batch if isinstance(negatives, str) else list(negatives)
            if len(negatives) != batch:
                raise ValueError(f"got {len(negatives)} negative prompts for {batch} prompts")
            negative_prompt_embeds = self._embed(negatives, device)
        prompt_embeds = prompt_embeds.repeat_interleave(num_images_per_prompt, dim=0)
        if negative_prompt_embeds is not None:
            negative_prompt_embeds = negative_prompt_embeds.repeat_interleave(num_images_per_prompt, dim=0)
        return prompt_embeds, negative_prompt_embeds

    # -- 2. noise --------------------------------------------------------------------------------
    def prepare_latents(self, batch_size, height, width, dtype, device, generator=None, latents=None):
        """Return initial noise (B, 4, H, W) scaled for the scheduler; drawn on CPU if not given."""
        shape = (batch_size, self.unet.config.in_channels, height, width)
        if latents is None:
            latents = torch.randn(shape, generator=generator, dtype=torch.float32)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"latents have shape {tuple(latents.shape)}, expected {shape}")
        return latents.to(device=device, dtype=dtype) * self.scheduler.init_noise_sigma

    # -- 3. denoise ------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        prompt=None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        negative_prompt=None,
        num_images_per_prompt: int = 1,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback: Callable[[int, int], None] | None = None,
        **_ignored,
    ):
        """Return sprites as RGBA: float (B, H, W, 4) in [0, 1] for "np", PIL images for "pil"."""
        size = self.unet.config.sample_size
        height, width = height or size, width or size
        steps = num_inference_steps or self.default_num_inference_steps
        guidance = self.default_guidance_scale if guidance_scale is None else guidance_scale
        do_cfg = guidance > 1.0
        device = self._execution_device

        # 1. Encode the prompts (skipped when embeddings are given).
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt,
            device,
            num_images_per_prompt,
            do_cfg,
            negative_prompt,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
        )
        batch = prompt_embeds.shape[0]
        context = prompt_embeds
        if do_cfg:
            assert negative_prompt_embeds is not None  # encode_prompt embeds "" when no negative is given
            context = torch.cat([negative_prompt_embeds, prompt_embeds])

        # 2. Prepare the schedule and the initial noise. The sampler's state stays float32 whatever
        #    the UNet's dtype: only the UNet runs in bfloat16/float16 when asked to.
        self.scheduler.set_timesteps(steps, device=device)
        sample = self.prepare_latents(batch, height, width, torch.float32, device, generator, latents)

        # 3. Denoise.
        for i, t in enumerate(self.scheduler.timesteps):
            model_input = torch.cat([sample] * 2) if do_cfg else sample
            model_input = self.scheduler.scale_model_input(model_input, t)
            noise = self.predict_noise(model_input, t, context)
            if do_cfg:
                uncond, cond = noise.chunk(2)
                noise = uncond + guidance * (cond - uncond)
            sample = self.scheduler.step(noise, t, sample).prev_sample
            if callback is not None:
                callback(i + 1, steps)

        # 4. Convert to images.
        images = (sample.float().clamp(-1, 1) + 1) / 2
        if output_type == "pt":
            result = images
        else:
            result = images.permute(0, 2, 3, 1).cpu().numpy()
            if output_type == "pil":
                result = self.numpy_to_pil(result)
        if not return_dict:
            return (result,)
        return SpriteOutput(images=result)

    def batch_invariant(self, height: int, width: int) -> bool:
        """Return True when `predict_noise` gives a sample of this size the same result, bit for bit,
        in any batch: on ONNX Runtime (the CPU, float32), each sample's arithmetic does not depend on
        the others (a test checks it); eager torch's does in the last bits."""
        fast = self.onnx_unet
        probe = torch.empty(1, self.unet.config.in_channels, height, width, dtype=self.unet.dtype)
        return fast is not None and self.device.type == "cpu" and fast.fits(probe)

    def predict_noise(self, sample: torch.Tensor, timestep, context: torch.Tensor) -> torch.Tensor:
        """Return the UNet's noise prediction for ``sample`` at ``timestep`` (a number, or one per
        sample); on CPU, slices of the batch run in parallel threads."""
        sample, context = sample.to(self.unet.dtype), context.to(self.unet.dtype)
        # One timestep per sample, so that a slice of the batch takes its own (as both UNets expand them).
        timesteps = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(sample.shape[0])

        def forward(x: torch.Tensor, c: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            out = self.unet(x, t, encoder_hidden_states=c)
            return out if isinstance(out, torch.Tensor) else out.sample  # diffusers' UNet returns an output object

        if sample.device.type != "cpu":
            return forward(sample, context, timesteps).float()
        fast = self.onnx_unet
        if fast is not None and fast.fits(sample):
            # One ONNX Runtime call per slice; it releases the GIL, so the slices run in parallel.
            # Every call takes the same thread count: one session serves them all.
            threads = session_threads(torch.get_num_threads())
            return run_sharded(lambda x, c, t: fast(x, t, c, threads), sample, context, timesteps)
        return run_sharded(forward, sample, context, timesteps).float()

    @staticmethod
    def numpy_to_pil(images: np.ndarray):
        """Return RGBA PIL images from float (B, H, W, 4) arrays in [0, 1]."""
        from PIL import Image

        arrays = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
        return [Image.fromarray(a, mode="RGBA") for a in arrays]


def recolour_render(image, colour: str):
    """Return RGBA ``image`` turned to ``colour`` (one of `colours.ALL_COLOURS`), or None when it already reads as it."""
    from PIL import Image

    rgba = np.asarray(image.convert("RGBA")).copy()
    rgba[..., 3] = np.where(rgba[..., 3] >= 128, 255, 0)  # as the pixelation sees it: opaque or clear
    if has_colour(rgba, colour):
        return None
    return Image.fromarray(recolour(rgba, colour), "RGBA")
