"""Image keyframes: fitting images to the render size, encoding them, and DDIM inversion to the
noise that renders them again. `MorphPipeline` takes these stage methods from `ImageKeyframes`."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from .fixed_point import ANDERSON_DEPTH, AndersonMixing
from .keyframes import fit_image
from .schedule import FramePlan

if TYPE_CHECKING:
    from .backend import Backend
    from .config import MorphConfig
    from .results import Conditioning

# Image keyframes: the sampler their inverted noise is rendered with (unless one is chosen), the
# text an image without a caption is inverted under, and fixed-point refinements per inversion step
# (Anderson-accelerated: 2 rounds come back closer than 3 plain ones, docs/morph.md).
IMAGE_SCHEDULER = "DDIM-exact"
DEFAULT_CAPTION = ""
INVERSION_REFINE = 2
# Inversion steps whose noise share (sqrt(1 - alpha_bar)) is below this are taken once, unrefined.
UNREFINED_NOISE = 0.05
# Inversions an engine remembers (whole calls, or single images where the backend is batch
# invariant; by `ImageKeyframes._inversion_key`): a studio or batch that morphs from the same
# images or library sprites again skips their inversion. An engine's model never changes (LoRAs
# are part of loading it), so the result is the same.
INVERSION_MEMO = 64


@dataclass
class ImageBlend:
    """How frames on a segment with an image keyframe are made (`MorphConfig.adain`, ``midway_guidance``).

    At an image keyframe the negative text is the caption (guidance neutral, so inversion is
    exact); ``negatives`` are each keyframe's own negative text, of which ``midway_guidance`` x
    sin(pi t) is blended back in between, so in-betweens get some of the run's guidance.
    """

    indices: frozenset[int]
    negatives: list[Conditioning] | None  # per keyframe, its negative_* tensors
    adain: bool = True
    midway_guidance: float = 0.0


class ImageKeyframes:
    """The image-keyframe stages of the morph engine (a mixin of `MorphPipeline`)."""

    backend: Backend
    # A folder where inversions are also kept as files, by the digest of what they depend on, for
    # other engines of the same model (a batch's worker processes). Only batch-invariant backends
    # use it: there a stored noise is what this engine would compute, bit for bit.
    inversion_store: Path | None = None

    @property
    def pipe(self) -> Any:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        raise NotImplementedError

    @property
    def dtype(self) -> torch.dtype:
        raise NotImplementedError

    def default_size(self) -> tuple[int, int]:
        raise NotImplementedError

    @property
    def flow_matching(self) -> bool:
        """Return True for transformer backends that sample by flow matching (SD3, Flux)."""
        return self.backend.flow_matching

    @property
    def pixel_space(self) -> bool:
        """Return True when the backend denoises pixels (no VAE), as the bundled sprite model does."""
        return self.backend.pixel_space

    def fit_keyframe_images(self, config: MorphConfig) -> dict[int, Image.Image]:
        """Return the image keyframes of ``config`` (resolved) fitted to its render size, by keyframe
        index: RGBA for a pixel-space RGBA model (transparency kept), RGB on white otherwise."""
        rgba = self.backend.rgba
        native_height, native_width = self.default_size()
        width, height = config.width or native_width, config.height or native_height
        return {
            index: fit_image(keyframe.loaded, width, height, rgba) for index, keyframe in config.image_keyframes.items()
        }

    @torch.no_grad()
    def encode_images(self, images: list[Image.Image]) -> torch.Tensor:
        """Return the clean latents (B, C, h, w), CPU float32, of images at the render size: the VAE's
        (scaled) mean for latent models, the pixels in [-1, 1] for pixel-space ones (transparent white)."""
        backend = self.backend
        arrays = []
        for image in images:
            array = np.asarray(image.convert("RGBA")).astype(np.float32) / 255.0
            if backend.binary_alpha:
                see_through = array[..., 3] < 0.5  # as the bundled model's training data: binary alpha, white behind
                array[see_through] = (1.0, 1.0, 1.0, 0.0)
                array[..., 3] = np.where(see_through, 0.0, 1.0)
            arrays.append(array[..., : backend.denoiser.channels if backend.pixel_space else 3])
        pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) * 2.0 - 1.0
        if self.pixel_space:
            return pixels.float()
        vae = self.pipe.vae
        encoded = vae.encode(pixels.to(self.device, vae.dtype)).latent_dist.mean
        shift = vae.config.get("shift_factor") or 0.0
        return ((encoded - shift) * vae.config.scaling_factor).float().cpu()

    def _predict_noise(self, sample: torch.Tensor, t, conditioning: Conditioning) -> torch.Tensor:
        """Return the backend UNet's noise prediction (float32) for ``sample`` at timestep ``t``
        under ``conditioning`` (batched like ``sample``)."""
        context = conditioning["prompt_embeds"]
        if self.backend.predict_noise is not None:
            return self.backend.predict_noise(sample, t, context)
        unet = self.pipe.unet
        extra = {}
        pooled = conditioning.get("pooled_prompt_embeds")
        if pooled is not None:
            # SDXL's size conditioning, as its pipeline sets it by default: original and target
            # size are the render size, no crop.
            height, width = (side * self.pipe.vae_scale_factor for side in sample.shape[-2:])
            time_ids = torch.tensor([[height, width, 0, 0, height, width]], device=sample.device)
            extra["added_cond_kwargs"] = {
                "text_embeds": pooled.to(unet.dtype),
                "time_ids": time_ids.to(unet.dtype).repeat(len(sample), 1),
            }
        return unet(sample.to(unet.dtype), t, encoder_hidden_states=context.to(unet.dtype), **extra).sample.float()

    @torch.no_grad()
    def invert_images(
        self,
        images: list[Image.Image],
        conditionings: list[Conditioning],
        config: MorphConfig,
        refine: int | None = None,
        on_step: Callable[[], None] | None = None,
        started_only: list[bool] | None = None,
    ) -> list[torch.Tensor]:
        """Return, per image (at the render size), the noise that DDIM sampling under its text
        (``conditionings``, one per image, as `encode_prompts` returns them) turns back into it: DDIM inversion on the sampler's own timesteps and guidance (``config``
        resolved), each step refined ``refine`` (default `INVERSION_REFINE`) times by fixed-point iteration (the noise
        prediction is taken at the step's end point, not its start; steps with less noise than
        `UNREFINED_NOISE` are not refined), starting from the step before's last prediction.
        ``started_only`` (per image, default all False): True where the noise will only start
        in-betweens from moved drawings (`ShapeStarts`), never be sampled back into its image
        from the noisiest step, which is all that step's refinement is for: it then takes one
        model call (11 instead of 13 for two keyframes at 6 steps; measured in docs/morph.md).
        Latents come back on the CPU, in the unit-variance convention of the engine's noise."""
        refine = INVERSION_REFINE if refine is None else refine
        started_only = [False] * len(images) if started_only is None else started_only
        on_step = on_step or (lambda: None)  # called at every model evaluation; raising from it stops
        memo: OrderedDict[bytes, list[torch.Tensor]] = self.__dict__.setdefault("_inversions", OrderedDict())
        invariant = self.backend.batch_invariant
        computed = 0
        assert config.height is not None and config.width is not None, "invert_images takes a resolved config"
        if invariant is not None and not self.flow_matching and invariant(config.height, config.width):
            # Each image's inversion does not depend on the others in its batch: remembered one by
            # one, so a batch of jobs that meet the same keyframe again in other pairs inverts it once.
            keys = [
                self._inversion_key([image], [c], config, refine, only)
                for image, c, only in zip(images, conditionings, started_only, strict=True)
            ]
            missing = [i for i, key in enumerate(keys) if key not in memo]
            for i in list(missing):
                stored = read_stored_inversion(self.inversion_store, keys[i])
                if stored is not None:
                    memo[keys[i]] = [stored]
                    missing.remove(i)
            # Guidance is decided per call (`_guided_inversion`), so is the noisiest step's
            # refinement: images that differ in either go apart.
            for guided, only in itertools.product((False, True), (False, True)):
                group = [i for i in missing
                         if self._guided_inversion([conditionings[i]], config) == guided and started_only[i] == only]  # fmt: skip
                if group:
                    noises = self._invert([images[i] for i in group], [conditionings[i] for i in group], config,
                                          refine, on_step, refine_noisiest=not only)  # fmt: skip
                    for i, noise in zip(group, noises, strict=True):
                        memo[keys[i]] = [noise.clone()]
                        store_inversion(self.inversion_store, keys[i], noise)
                    computed += len(group)
        else:
            only = all(started_only)  # one call for all: its noisiest step refined unless none needs it
            keys = [self._inversion_key(images, conditionings, config, refine, only)]
            if keys[0] not in memo:
                memo[keys[0]] = [latent.clone() for latent in self._invert(images, conditionings, config, refine,
                                                                           on_step, refine_noisiest=not only)]  # fmt: skip
                computed += len(images)
        if computed == 0:
            on_step()  # a cancel still stops here when every inversion was remembered
        noises = [latent.clone() for key in keys for latent in memo[key]]
        for key in keys:
            memo.move_to_end(key)
        while len(memo) > INVERSION_MEMO:
            memo.popitem(last=False)
        return noises

    def _inversion_key(
        self,
        images: list[Image.Image],
        conditionings: list[Conditioning],
        config: MorphConfig,
        refine: int,
        started_only: bool = False,
    ) -> bytes:
        """Return what an inversion's result depends on besides the model, as a digest: the images,
        the text tensors, the sampler's settings, the device and dtype. The whole call is one key
        (not each image alone), since a batch of other images could round differently."""
        hasher = hashlib.sha256()
        settings = (config.steps, config.guidance_scale, config.height, config.width, refine, self.flow_matching,
                    str(self.device), str(self.dtype), sorted(dict(self.pipe.scheduler.config).items()))  # fmt: skip
        hasher.update(repr(settings).encode())
        if started_only:  # a key of its own only then: other inversions keep their keys
            hasher.update(b"noisiest step unrefined")
        for image in images:  # as `encode_images` reads them
            hasher.update(repr(image.size).encode())
            hasher.update(image.convert("RGBA").tobytes())
        for conditioning in conditionings:
            for name in sorted(conditioning):
                tensor = conditioning[name].detach().cpu().contiguous()
                hasher.update(repr((name, str(tensor.dtype), tuple(tensor.shape))).encode())
                hasher.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        return hasher.digest()

    @staticmethod
    def _guided_inversion(conditionings: list[Conditioning], config: MorphConfig) -> bool:
        """Return True when inverting under ``conditionings`` takes classifier-free guidance."""
        names = [name for name in conditionings[0] if not name.startswith("negative_")]
        negatives = all(f"negative_{name}" in c for c in conditionings for name in names)
        # Where each negative text is the image's own caption (as `prepare_keyframes` makes it)
        # guidance changes nothing: skip the unconditional half, half the work.
        neutral = negatives and all(torch.equal(c[f"negative_{n}"], c[n]) for c in conditionings for n in names)
        return float(config.guidance_scale or 0.0) > 1.0 and negatives and not neutral

    def _invert(
        self,
        images: list[Image.Image],
        conditionings: list[Conditioning],
        config: MorphConfig,
        refine: int,
        on_step: Callable[[], None],
        refine_noisiest: bool = True,
    ) -> list[torch.Tensor]:
        """`invert_images` without the memo (``refine_noisiest``: False where all are ``started_only``)."""
        if self.flow_matching:
            return self._invert_flow(images, conditionings, config, refine, on_step)
        own = getattr(self.pipe, "scheduler_for", None)  # the bundled pipeline's DDIM: no diffusers import
        ddim = own("DDIMScheduler", self.pipe.scheduler.config) if own is not None else None
        if ddim is None:
            from diffusers import DDIMScheduler

            ddim = DDIMScheduler.from_config(self.pipe.scheduler.config)
        ddim.set_timesteps(config.steps)
        alphas = ddim.alphas_cumprod.double()
        step = ddim.config.num_train_timesteps // ddim.num_inference_steps
        guidance = float(config.guidance_scale or 0.0)
        names = [name for name in conditionings[0] if not name.startswith("negative_")]
        do_cfg = self._guided_inversion(conditionings, config)
        device, dtype = self.device, self.dtype
        x = self.encode_images(images).double().to(device)
        context = {}
        for name in names:
            batch = torch.cat([c[name] for c in conditionings])
            if do_cfg:
                batch = torch.cat([torch.cat([c[f"negative_{name}"] for c in conditionings]), batch])
            context[name] = batch.to(device, dtype)

        def noise(sample: torch.Tensor, t) -> torch.Tensor:
            on_step()
            model_input = torch.cat([sample] * 2) if do_cfg else sample
            eps = self._predict_noise(model_input.float(), t, context).double()
            if do_cfg:
                uncond, cond = eps.chunk(2)
                eps = uncond + guidance * (cond - uncond)
            return eps

        last, refined = None, False  # the step before: its last noise prediction, and whether it was refined
        timesteps = list(reversed(ddim.timesteps.tolist()))  # from the last sampling step back to the first
        for index, t in enumerate(timesteps):
            prev = t - step
            a_t = alphas[t]
            a_prev = alphas[prev] if prev >= 0 else torch.tensor(float(ddim.final_alpha_cumprod), dtype=torch.float64)
            a_t, a_prev = a_t.to(device), a_prev.to(device)
            start = x
            # A step whose noise is a sliver of the sample moves it by that sliver: not refined.
            rounds = 0 if (1 - a_t).sqrt() < UNREFINED_NOISE else refine
            noisiest = index == len(timesteps) - 1
            if noisiest and not refine_noisiest:
                rounds = 0
            mixing = AndersonMixing(ANDERSON_DEPTH)
            if rounds and last is not None:
                # Warm start: the step before's last prediction gives the first guess, not a model
                # call at the step's start. One round more where that guess is poor (after an
                # unrefined step, whose prediction is of a nearly noiseless sample) or costly (the
                # noisiest step: its error passes through every sampling step).
                x = ddim_step_start(start, last, a_t, a_prev)
                rounds += int(not refined or noisiest)
            else:
                last = noise(start, t)
                x = mixing(start, ddim_step_start(start, last, a_t, a_prev))
            for _ in range(rounds):
                last = noise(x, t)
                x = mixing(x, ddim_step_start(start, last, a_t, a_prev))
            refined = rounds > 0
        return [latent.float().cpu().unsqueeze(0) for latent in x]

    def _invert_flow(
        self,
        images: list[Image.Image],
        conditionings: list[Conditioning],
        config: MorphConfig,
        refine: int,
        on_step: Callable[[], None],
    ) -> list[torch.Tensor]:
        """Return `invert_images` for a flow-matching backend: Euler sampling inverted on the sampler's
        own schedule, conditional velocity only (guidance is neutral at an image keyframe, and Flux's
        is distilled into the model)."""
        from . import flow

        assert config.steps is not None and config.height is not None and config.width is not None
        denoiser = self.backend.denoiser
        device = self.device
        clean = self.encode_images(images).to(device)
        size = (config.height, config.width)
        positive = {name: t for name, t in conditionings[0].items() if not name.startswith("negative_")}
        probe = denoiser.to_pipeline(clean[:1]).to(device, denoiser.dtype)
        sigmas, timesteps = flow.sampling_sigmas(self.pipe, positive, probe, config.steps, size)
        batch = {name: torch.cat([c[name] for c in conditionings]) for name in positive}
        guidance = float(config.guidance_scale or 0.0)

        def predict(sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
            on_step()
            return flow.velocity(self.pipe, denoiser, sample.float(), timestep, batch, guidance)

        noise = flow.invert(clean, sigmas.to(device), timesteps, predict, refine)
        return [latent.cpu().unsqueeze(0) for latent in noise]


def image_of(frame: FramePlan, images: dict[int, Image.Image]) -> Image.Image | None:
    """Return the image of an image keyframe when ``frame`` is exactly that keyframe, else None."""
    return images.get(frame.start) if frame.is_keyframe else None


def ddim_step_start(end: torch.Tensor, eps: torch.Tensor, a_t: torch.Tensor, a_prev: torch.Tensor) -> torch.Tensor:
    """Return the sample at alpha-bar ``a_t`` that the DDIM step with noise ``eps`` takes to ``end`` at ``a_prev``."""
    # end = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps, solved for x0; the start is x0 noised to a_t with eps.
    x0 = (end - (1 - a_prev).sqrt() * eps) / a_prev.sqrt()
    return a_t.sqrt() * x0 + (1 - a_t).sqrt() * eps


def read_stored_inversion(store: Path | None, key: bytes) -> torch.Tensor | None:
    """Return the noise `store_inversion` kept in ``store`` under ``key``, or None."""
    if store is None:
        return None
    try:
        return torch.from_numpy(np.load(store / f"{key.hex()}.npy", allow_pickle=False))
    except (OSError, ValueError):  # not there (yet), or being replaced
        return None


def store_inversion(store: Path | None, key: bytes, noise: torch.Tensor) -> None:
    """Keep ``noise`` in ``store`` under ``key``; a reader never sees half a file. Best effort: where
    the folder cannot take it (a full disk), the noise is only remembered in memory."""
    if store is None:
        return
    part = store / f".{key.hex()}.{os.getpid()}.part.npy"
    try:
        store.mkdir(parents=True, exist_ok=True)
        np.save(part, noise.detach().cpu().numpy(), allow_pickle=False)
        os.replace(part, store / f"{key.hex()}.npy")
    except OSError:
        with contextlib.suppress(OSError):
            part.unlink()
