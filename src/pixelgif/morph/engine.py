"""The morph engine: keyframe prompts -> interpolated frames -> pixel art, over any diffusers pipeline.

The engine drives a `Backend` (``morph/backend.py``): a pipeline that meets the contract in
docs/ARCHITECTURE.md plus everything that differs between models, filled in by `pixelgif.models`;
the engine never asks the pipeline which model it is. Python API::

    from pixelgif.morph import MorphConfig
    from pixelgif.run import load_engine
    engine = load_engine("path/to/diffusers-folder")
    result = engine(MorphConfig(prompts=["a red dragon", "a blue whale"], frames=8, loop=True))
    result.pixel_frames[0].save("first.png")
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from .backend import Backend
from .config import SCHEDULERS, MorphConfig, scheduler_spec
from .denoiser import Denoiser
from .images import DEFAULT_CAPTION, IMAGE_SCHEDULER, ImageBlend, ImageKeyframes, image_of
from .interpolate import adain, lerp, slerp
from .keyframes import fit_image
from .progress import ProgressCallback, RenderProgress, step_callback_kwargs
from .results import Conditioning, FrameInputs, MorphResult, PreparedKeyframes
from .schedule import FramePlan, frame_schedule, keyframe_indices, segment_pairs
from .shapes import ShapeTransport, has_pixels, start_timestep, transport
from .spacing import SpacedFrames, ViewerFeatures, even_frames, render_budget
from .vivid import VividFrames

if TYPE_CHECKING:
    from .backend import LibrarySprite

# Shape starts skip the sampler's timesteps whose noise (its share of a sample) is below this.
LEAST_NOISE = 0.05

__all__ = ["SCHEDULERS", "Backend", "FrameInputs", "MorphConfig", "MorphPipeline", "MorphResult"]


class MorphPipeline(ImageKeyframes):
    """Morph engine over a `Backend` (`pixelgif.run.load_engine` loads one); call it with a `MorphConfig`."""

    def __init__(self, backend: Backend, progress: bool = True):
        if not isinstance(backend, Backend):
            raise TypeError(
                f"MorphPipeline takes a pixelgif.morph.backend.Backend, got {type(backend).__name__}; "
                "wrap a loaded pipeline with pixelgif.models.backend_of(pipe), or load one with pixelgif.run.load_engine"
            )
        self.backend = backend
        self.progress = progress
        pipe = backend.pipe
        # Kept so that scheduler=None always means the model's own (a preset's, if it names one),
        # even after another was used.
        self._model_scheduler = pipe.scheduler
        if backend.scheduler is not None:
            self._model_scheduler = self._make_scheduler(backend.scheduler)
            pipe.scheduler = self._model_scheduler

    # -- properties of the backend -------------------------------------------------------------
    @property
    def pipe(self) -> Any:
        """Return the backend's diffusers pipeline."""
        return self.backend.pipe

    @property
    def device(self) -> torch.device:
        """Return the device the backend computes on."""
        return self.backend.device

    @property
    def denoiser(self) -> Denoiser:
        """Return the backend's UNet or transformer with its latent layout."""
        return self.backend.denoiser

    @property
    def dtype(self) -> torch.dtype:
        """Return the dtype of the backend's denoiser."""
        return self.denoiser.dtype

    def default_size(self) -> tuple[int, int]:
        """Return the model's native (height, width) in pixels."""
        return self.denoiser.default_size()

    def resolve(self, config: MorphConfig, library: bool = False) -> MorphConfig:
        """Return ``config`` with every model-dependent default (None) filled in; ``library``: some
        keyframes come from the sprite library (they are inverted like image keyframes)."""
        height, width = self.default_size()
        backend = self.backend
        guidance = backend.guidance_scale if config.guidance_scale is None else config.guidance_scale
        return dataclasses.replace(
            config,
            steps=config.steps or backend.steps,
            guidance_scale=float(guidance),
            batch_size=config.batch_size or backend.batch_size,
            height=config.height or height,
            width=config.width or width,
            seeds=config.keyframe_seeds,
            # Inverted noise reproduces an image under the DDIM sampler it was inverted for.
            scheduler=config.scheduler
            or (IMAGE_SCHEDULER if (config.image_keyframes or library) and not self.flow_matching else None),
        )

    def set_scheduler(self, name: str | None) -> None:
        """Use the scheduler called ``name`` (see `SCHEDULERS`); None: the model's own."""
        if name is None:
            self.pipe.scheduler = self._model_scheduler
            return
        if self.flow_matching:
            raise ValueError(
                f"scheduler {name!r} is for UNet models; {type(self.pipe).__name__} samples with its own flow-matching "
                "scheduler (leave --scheduler out)"
            )
        self.pipe.scheduler = self._make_scheduler(name)

    def _make_scheduler(self, name: str) -> Any:
        """Return the diffusers scheduler called ``name`` (see `SCHEDULERS`), configured as the model's own."""
        class_name, options = scheduler_spec(name)
        # The bundled pipeline has its own DDIM and DPM-Solver++ (no diffusers import in a cold start).
        own = getattr(self.pipe, "scheduler_for", None)
        if own is not None and (scheduler := own(class_name, self._model_scheduler.config, **options)) is not None:
            return scheduler
        import diffusers

        scheduler_class = getattr(diffusers, class_name)
        try:
            return scheduler_class.from_config(self._model_scheduler.config, **options)
        except ImportError as exc:  # e.g. LMS needs scipy
            raise ValueError(f"scheduler {name!r} needs an extra package: {exc}") from exc

    # -- stages ----------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompts(
        self, prompts: list[str], negative_prompt: str | None, guidance_scale: float
    ) -> list[Conditioning]:
        """Return each prompt's conditioning (CPU float32), encoded once: every tensor the backend's
        ``encode_prompt`` returns, named after the ``encode_prompt`` parameter that takes it back
        (``prompt_embeds``, ``negative_prompt_embeds``, ``pooled_prompt_embeds``, ...); negative
        ones only with classifier-free guidance."""
        do_cfg = guidance_scale > 1.0
        parameters = inspect.signature(self.pipe.encode_prompt).parameters
        names = [name for name in parameters if name.endswith("_embeds")]
        options = {"device": self.device, "num_images_per_prompt": 1}
        if "do_classifier_free_guidance" in parameters:
            options["do_classifier_free_guidance"] = do_cfg
        if "negative_prompt" in parameters:
            options["negative_prompt"] = negative_prompt
        for name, parameter in parameters.items():  # SD3 requires prompt_2 and prompt_3: None is "the same prompt"
            if name.startswith("prompt_") and not name.endswith("_embeds") and parameter.default is parameter.empty:
                options[name] = None
        conditionings = []
        for prompt in prompts:
            outputs = self.pipe.encode_prompt(prompt, **options)
            conditionings.append(
                {
                    name: tensor.float().cpu()
                    for name, tensor in zip(names, outputs, strict=False)  # outputs past the names: not inputs
                    if isinstance(tensor, torch.Tensor) and (do_cfg or not name.startswith("negative_"))
                }
            )
        return conditionings

    def prepare_keyframe_latents(self, seeds: list[int], height: int, width: int) -> list[torch.Tensor]:
        """Return one unit-normal latent per keyframe, drawn on CPU so a seed means the same noise anywhere."""
        denoiser = self.denoiser
        denoiser.check_size(height, width)
        shape = denoiser.latent_shape(height, width)
        return [
            torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.float32)
            for seed in seeds
        ]

    def interpolate_frames(
        self,
        plan: list[FramePlan],
        conditionings: list[Conditioning],
        latents: list[torch.Tensor],
        text_interpolation: str = "linear",
        blend: ImageBlend | None = None,
    ) -> list[FrameInputs]:
        """Return the inputs of every frame: slerped noise and, tensor by tensor, interpolated text
        conditioning between its keyframes (slerp per token, or per vector for pooled embeddings).

        ``blend``: on segments with an image keyframe, AdaIN on the slerped noise and part of the
        run's guidance back midway (see `ImageBlend`).
        """

        def mix(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
            return slerp(a, b, t, dim=-1) if text_interpolation == "slerp" else lerp(a, b, t)

        frames = []
        for frame in plan:
            inputs = FrameInputs(
                latents=slerp(latents[frame.start], latents[frame.end], frame.t),
                conditioning={
                    name: mix(start, conditionings[frame.end][name], frame.t)
                    for name, start in conditionings[frame.start].items()
                },
            )
            between = 0.0 < frame.t < 1.0
            if blend is not None and between and {frame.start, frame.end} & blend.indices:
                if blend.adain:
                    inputs.latents = adain(inputs.latents, latents[frame.start], latents[frame.end], frame.t)
                if blend.negatives and blend.midway_guidance > 0:
                    share = blend.midway_guidance * math.sin(math.pi * frame.t)
                    for name, negative in blend.negatives[frame.start].items():
                        own = mix(negative, blend.negatives[frame.end][name], frame.t)
                        inputs.conditioning[name] = lerp(inputs.conditioning[name], own, share)
            frames.append(inputs)
        return frames

    @torch.no_grad()
    def render(
        self,
        frames: list[FrameInputs],
        config: MorphConfig,
        callback: ProgressCallback | None = None,
        progress: RenderProgress | None = None,
    ) -> list[Image.Image]:
        """Return one PIL image (RGB or RGBA, as the backend makes) per frame, in batches of ``batch_size``.

        ``callback(done, total)`` is called after every denoising step with the frames done so far
        (fractional within a batch); an exception raised by it stops the render (e.g. a cancel).
        ``progress``: a `RenderProgress` shared by several render calls (then ``callback`` is its).
        """
        batch_size, steps = config.batch_size, config.steps
        assert batch_size is not None and steps is not None, "render takes a resolved config (see resolve)"
        own = progress is None
        progress = progress if progress is not None else RenderProgress(len(frames), callback, self.progress)
        progress.expect(len(frames))
        device, denoiser = self.device, self.denoiser
        dtype = denoiser.dtype
        parameters = inspect.signature(self.pipe.__call__).parameters
        takes_generator = "generator" in parameters
        images: list[Image.Image] = []
        try:
            for start in range(0, len(frames), batch_size):
                batch = frames[start : start + batch_size]
                kwargs: dict[str, Any] = dict(
                    **{
                        name: torch.cat([f.conditioning[name] for f in batch]).to(device, dtype)
                        for name in batch[0].conditioning
                    },
                    latents=denoiser.to_pipeline(torch.cat([f.latents for f in batch])).to(device, dtype),
                    num_inference_steps=steps,
                    guidance_scale=config.guidance_scale,
                    height=config.height,
                    width=config.width,
                    output_type="np",
                )
                if takes_generator:
                    # Stochastic schedulers (Euler-a, DDPM) draw noise every step: the same seed for
                    # every frame keeps neighbouring frames alike and runs reproducible.
                    kwargs["generator"] = [torch.Generator("cpu").manual_seed(config.seed) for _ in batch]
                kwargs.update(step_callback_kwargs(parameters, progress.batch_reporter(len(batch)), steps))
                images.extend(to_pil(self.pipe(**kwargs).images))
                progress.advance(len(batch))
        except BaseException:
            if own:
                progress.close(finished=False)
            raise
        if own:
            progress.close()
        return images

    def shape_starts(self, config: MorphConfig) -> bool:
        """Return True when in-betweens between two drawings start from their moved pixels
        (`MorphConfig.shapes`): on a pixel-space RGBA backend (the bundled model), whose drawings
        have a see-through background to tell the shape by and whose UNet denoises the pixels.
        Latent backends could VAE-encode the moved picture (`encode_images` does), but their
        keyframes are opaque RGB at 512+ px: far too many pixels for exact transport."""
        return config.shapes > 0 and self.pixel_space and self.backend.rgba

    @torch.no_grad()
    def render_started(
        self,
        frames: list[FrameInputs],
        clean: torch.Tensor,
        starts: list[int],
        config: MorphConfig,
        progress: RenderProgress,
    ) -> list[Image.Image]:
        """Return one image per frame, frame i denoised by DDIM from timestep ``starts[i]``, where
        its picture ``clean[i]`` (B, C, H, W: the backend's latents) is noised with the frame's own
        noise (SDEdit), through the timesteps of ``config.steps``-step sampling below it, under
        ``config.shape_guidance`` (None: the run's guidance scale). A pixel-space UNet backend only.

        Each frame starts at its own noise level, so neighbouring frames differ by a little, not
        by a whole step of the sampler; after their first step the frames take the sampler's
        timesteps. Every unfinished frame takes its next step in the same model evaluation, each at
        its own timestep: a few larger batches cost less than many small ones."""
        steps = config.steps
        guidance = float((config.guidance_scale if config.shape_guidance is None else config.shape_guidance) or 0.0)
        assert steps is not None and config.batch_size is not None, "render_started takes a resolved config"
        grid = self._make_scheduler(IMAGE_SCHEDULER)
        grid.set_timesteps(steps)
        alphas = grid.alphas_cumprod.double()
        device = self.device
        names = [name for name in frames[0].conditioning if not name.startswith("negative_")] if frames else []
        do_cfg = guidance > 1.0 and bool(frames) and all(f"negative_{n}" in frames[0].conditioning for n in names)
        images: list[Image.Image] = []
        progress.expect(len(frames))
        for first in range(0, len(frames), config.batch_size):
            batch = frames[first : first + config.batch_size]
            # Each frame's timesteps: its start, then the sampler's below it, then the clean picture.
            # The sampler's last (timestep 0) is left out: it moves a picture by 1 % of its noise,
            # and costs an evaluation of every frame.
            below = [t for t in grid.timesteps.tolist() if (1 - alphas[t]).sqrt() >= LEAST_NOISE]
            paths = [[start, *(t for t in below if t < start)] for start in starts[first : first + len(batch)]]
            sample = torch.stack(
                [alphas[path[0]].sqrt() * clean[first + n].double() + (1 - alphas[path[0]]).sqrt() * f.latents[0].double()
                 for n, (f, path) in enumerate(zip(batch, paths, strict=True))]
            )  # fmt: skip
            context = {
                name: (torch.cat([f.conditioning[name] for f in batch]),
                       torch.cat([f.conditioning[f"negative_{name}"] for f in batch]) if do_cfg else None)
                for name in names
            }  # fmt: skip
            position = [0] * len(batch)
            total, done = sum(len(path) for path in paths), 0
            report = progress.batch_reporter(len(batch))
            while True:
                active = [n for n, path in enumerate(paths) if position[n] < len(path)]
                if not active:
                    break
                chosen = torch.tensor(active)
                timesteps = torch.tensor([paths[n][position[n]] for n in active])
                embeds = {}
                for name, (positive, negative) in context.items():
                    pick = positive[chosen] if negative is None else torch.cat([negative[chosen], positive[chosen]])
                    embeds[name] = pick.to(device, self.dtype)
                part = sample[chosen].float().to(device)
                model_input, model_steps = (torch.cat([part] * 2), timesteps.repeat(2)) if do_cfg else (part, timesteps)
                eps = self._predict_noise(model_input, model_steps.to(device), embeds).double().cpu()
                if do_cfg:
                    uncond, cond = eps.chunk(2)
                    eps = uncond + guidance * (cond - uncond)
                for row, n in enumerate(active):
                    t = paths[n][position[n]]
                    position[n] += 1
                    after = paths[n][position[n]] if position[n] < len(paths[n]) else None
                    a_t = alphas[t]
                    a_prev = alphas[after] if after is not None else torch.tensor(1.0, dtype=torch.float64)
                    x0 = (sample[n] - (1 - a_t).sqrt() * eps[row]) / a_t.sqrt()
                    sample[n] = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps[row]
                done += len(active)
                if report is not None:
                    report(done / total)
            pixels = ((sample.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
            images.extend(to_pil(pixels))
            progress.advance(len(batch))
        return images

    def resolve_pixelate(self, config, width: int):
        """Return ``config`` (a PixelateConfig, None for defaults) with a pixel size suited to ``width``.

        Without a grid or pixel size, art pixels are 8 source pixels wide but there are at least 32
        of them across, so a 768 px render becomes 96 art pixels and a 32 px sprite stays 32.
        """
        from ..pixelate import PixelateConfig

        config = config if config is not None else PixelateConfig()
        if config.grid is None and config.pixel_size is None and not config.detect_grid:
            config = dataclasses.replace(config, pixel_size=max(1, min(8, width // 32)))
        return config

    def pixelate(self, frames: list[Image.Image], config, exact: list[int] | None = None, keyframes=()):
        """Return the `pixelgif.pixelate.PixelArt` of ``frames``: one palette shared by all of them.

        ``exact``: indices of image keyframes, whose colours the palette keeps and that are not dithered;
        ``keyframes``: indices of all keyframes, which weigh most in the palette fit.
        """
        from ..pixelate import pixelate_frames

        return pixelate_frames(frames, config, exact=exact or (), keyframes=keyframes)

    def prepare_keyframes(
        self,
        config: MorphConfig,
        pixelate=None,
        inverted: dict[int, torch.Tensor] | None = None,
        on_step: Callable[[], None] | None = None,
        in_betweens: bool = True,
    ) -> PreparedKeyframes:
        """Return steps 1-3 of a morph: ``config`` with model defaults filled in (and its scheduler
        set), the pixelate settings for its size, and each keyframe's embeddings and noise.

        Prompt keyframes the model draws are rendered first (`render_keyframes`) and, on a backend with
        shape starts, taken as drawings with the noise they came from (``config.shapes_for_renders``).
        Image keyframes are inverted (`invert_images`) unless ``inverted`` already has their noise,
        by keyframe index (e.g. the ``latents`` of an earlier `PreparedKeyframes` of the same images,
        caption, steps and guidance). ``on_step()`` is called at every model evaluation of the
        inversion; raising from it stops the work. ``in_betweens=False``: only the keyframes are
        wanted (a preview), so nothing is inverted and no transport worked out (the drawings'
        ``latents`` stay their seeds' noise)."""
        library = self.library_keyframes(config)
        config = self.resolve(config, library=bool(library))
        seeds, height, width, guidance = config.seeds, config.height, config.width, config.guidance_scale
        # resolve filled them in
        assert seeds is not None and height is not None and width is not None and guidance is not None
        pixelate = self.resolve_pixelate(pixelate, width)
        self.set_scheduler(config.scheduler)
        texts = [DEFAULT_CAPTION if text is None else text for text in config.keyframe_texts]
        conditionings = self.encode_prompts(texts, config.negative_prompt, guidance)
        latents = self.prepare_keyframe_latents(seeds, height, width)
        images = self.fit_keyframe_images(config)
        rgba = self.backend.rgba
        images.update({index: fit_image(hit.image, width, height, rgba) for index, hit in library.items()})
        renders = self.render_keyframes(config, conditionings, latents, images, on_step)
        recoloured = self.recolour_keyframes(config, renders)
        # The model's own keyframes morph like drawings: each render with the noise it came from
        # (one with nothing drawn has no pixels to move: its segments render from noise as before).
        rendered = {index: image for index, image in renders.items() if index not in recoloured and has_pixels(image)}
        if not (config.shapes_for_renders and self.shape_starts(config)):
            rendered = {}
        if (recoloured or rendered) and not images:
            # Now a keyframe is a drawing: the in-betweens take the image sampler (resolve's choice for images).
            config = self.resolve(config, library=True)
            self.set_scheduler(config.scheduler)
        images.update({index: fit_image(image, width, height, rgba) for index, (image, _) in recoloured.items()})
        images.update({index: fit_image(image, width, height, rgba) for index, image in rendered.items()})
        negatives = [{name: t for name, t in c.items() if name.startswith("negative_")} for c in conditionings]
        has_negatives = all(negatives)
        blend = None
        if images:
            blend = ImageBlend(frozenset(images), negatives if has_negatives else None, config.adain,
                               config.midway_guidance)  # fmt: skip
        if images and has_negatives:
            # An image keyframe's negative text is its own caption: guidance is neutral there, so
            # its noise inverts exactly (inversion under guidance drifts), and grows towards prompts.
            conditionings = [dict(c) for c in conditionings]
            for index in images:
                for name in negatives[index]:
                    conditionings[index][name] = conditionings[index][name.removeprefix("negative_")].clone()
        inverted = {**{index: latents[index] for index in rendered}, **(inverted or {})}
        order = sorted(index for index in images if index not in inverted)
        transports = self.drawing_transports(config, images) if in_betweens else {}
        if order and in_betweens:
            started = started_only(transports, len(config.prompts), config.loop)
            noises = self.invert_images(
                [images[i] for i in order], [conditionings[i] for i in order], config, on_step=on_step,
                started_only=[i in started for i in order],
            )  # fmt: skip
            inverted.update(zip(order, noises, strict=True))
        for index in images:
            latents[index] = inverted.get(index, latents[index])
        matches = {index: hit.match for index, hit in library.items()}
        colours = {index: colour for index, (_, colour) in recoloured.items()}
        return PreparedKeyframes(config, pixelate, conditionings, latents, images, blend, matches, colours,
                                 frozenset(rendered), transports)  # fmt: skip

    def drawing_transports(
        self, config: MorphConfig, images: dict[int, Image.Image]
    ) -> dict[tuple[int, int], ShapeTransport | None]:
        """Return, by segment (its two keyframe indices), the transport between its two drawings
        (`shapes.transport`; None where they cannot be matched) for every segment that joins two
        drawings, when in-betweens start from moved drawings (`shape_starts`); else nothing."""
        if not self.shape_starts(config):
            return {}
        pairs = segment_pairs(len(config.prompts), config.loop)
        return {(a, b): transport(images[a], images[b]) for a, b in pairs if a in images and b in images and a != b}

    def render_keyframes(
        self,
        config: MorphConfig,
        conditionings: list[Conditioning],
        latents: list[torch.Tensor],
        images: dict[int, Image.Image],
        on_step: Callable[[], None] | None = None,
    ) -> dict[int, Image.Image]:
        """Return, by keyframe index, the model's render of each prompt keyframe (not in ``images``)
        that the next steps take as a drawing: those whose prompt names a colour (`recolour_keyframes`),
        and all of them where in-betweens start from moved drawings (``config.shapes_for_renders``).
        Each is what the morph's keyframe frame would be, from the same noise and text."""
        words = self.backend.colour_words if config.keyframe_colours else None
        every = config.shapes_for_renders and self.shape_starts(config)
        wanted = [
            index
            for index, prompt in enumerate(config.prompts)
            if index not in images
            and (every or (words is not None and isinstance(prompt, str) and words.named(prompt)))
        ]
        if not wanted:
            return {}
        quiet = RenderProgress(len(wanted), lambda *_: on_step() if on_step else None, enabled=False)
        inputs = [FrameInputs(latents[index], conditionings[index]) for index in wanted]
        return dict(zip(wanted, self.render(inputs, config, progress=quiet), strict=True))

    def recolour_keyframes(
        self, config: MorphConfig, renders: dict[int, Image.Image]
    ) -> dict[int, tuple[Image.Image, str]]:
        """Return, by keyframe index, (render turned to the colour, colour) for each keyframe render
        (`render_keyframes`) whose prompt names a colour the render does not show."""
        words = self.backend.colour_words
        if not config.keyframe_colours or words is None:
            return {}
        turned = {}
        for index, image in renders.items():
            prompt = config.prompts[index]
            colour = words.named(prompt) if isinstance(prompt, str) else None
            if colour and (recoloured := words.recolour(image, colour)) is not None:
                turned[index] = (recoloured, colour)
        return turned

    def library_keyframes(self, config: MorphConfig) -> dict[int, LibrarySprite]:
        """Return, by keyframe index, the drawing and match for the prompt keyframes that name a drawing
        of the backend's sprite library (the bundled model's; none without ``config.library``)."""
        find = self.backend.library_sprite
        if not config.library or find is None:
            return {}
        found = {}
        for index, (keyframe, seed) in enumerate(zip(config.prompts, config.keyframe_seeds, strict=True)):
            if isinstance(keyframe, str) and (hit := find(keyframe, seed)) is not None:
                found[index] = hit
        return found

    # -- the whole morph ------------------------------------------------------------------------
    def __call__(self, config: MorphConfig, pixelate=None, callback: ProgressCallback | None = None) -> MorphResult:
        """Return the morph described by ``config``, pixelated with ``pixelate`` (a PixelateConfig).

        ``callback(done, total)`` reports rendered frames; raising from it stops the morph.
        """
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = round(now - clock, 3)
            clock = now

        # One progress over the whole morph: alive while keyframes are inverted, then frames rendered.
        expected = config.num_frames if config.spacing == "linear" else render_budget(config.num_frames)
        with RenderProgress(expected, callback, self.progress) as progress:
            # 1-3. Model defaults and scheduler; each keyframe prompt encoded once; one initial latent
            #      per keyframe, shared by the two segments that meet there (image keyframes inverted).
            keys = self.prepare_keyframes(config, pixelate, on_step=progress.waiting)
            config, pixelate = keys.config, keys.pixelate
            progress.skip(len(keys.images))
            lap("encode")

            # 4. Plan the frames (which two keyframes each one sits between, how far along), interpolate
            #    noise and text for each, render in batches; even spacing measures and re-places them.
            #    With even spacing each pass is one render call; one progress counts them all.

            vivid = VividFrames(dict(keys.images)) if config.vivid else None

            shapes = ShapeStarts(self, keys) if self.shape_starts(config) else None

            def render_plan(plan: list[FramePlan]) -> list[Image.Image]:
                # An image keyframe is the image itself, never a render of its inverted noise.
                wanted = [frame for frame in plan if image_of(frame, keys.images) is None]
                inputs = self.interpolate_frames(
                    wanted, keys.conditionings, keys.latents, config.text_interpolation, keys.blend
                )
                if shapes is not None:
                    rendered = iter(shapes.render(wanted, inputs, progress))
                else:
                    rendered = iter(self.render(inputs, config, progress=progress) if inputs else [])
                images = [image if (image := image_of(frame, keys.images)) is not None else next(rendered)
                          for frame in plan]  # fmt: skip
                return vivid.see(plan, images) if vivid is not None else images

            spaced = self.place_frames(config, render_plan, pixelate, list(keys.images.values()))
        plan, frames = spaced.plan, spaced.images
        lap("render")

        # 5. Pixelate every frame with one shared palette (holding the image keyframes' own colours).
        kept = exact_keyframes(keys)
        exact = [frame.index for frame in plan if image_of(frame, kept) is not None]
        art = self.pixelate(frames, pixelate, exact, keyframe_indices(plan))
        lap("pixelate")

        timings["total"] = round(sum(timings.values()), 3)
        return MorphResult(
            frames=frames,
            pixel_frames=list(art.images),
            palette=np.asarray(art.palette),
            transparent_index=art.transparent_index,
            keyframe_indices=keyframe_indices(plan),
            config=config,
            pixelate_config=pixelate,
            timings=timings,
            plan=plan,
            renders=spaced.renders,
            library=keys.library,
            recoloured=keys.recoloured,
        )

    def place_frames(self, config: MorphConfig, render_plan, pixelate, exact_images=()) -> SpacedFrames:
        """Return where the morph's frames sit and their images, rendered by ``render_plan``: evenly
        in t (linear spacing), or re-placed so the ``pixelate``'d frames change evenly.
        ``exact_images``: the image keyframes (kept exactly by the pixelation, so by the measure too)."""
        count = len(config.prompts)
        if config.spacing == "linear":
            plan = frame_schedule(count, config.frames, config.loop, config.easing)
            return SpacedFrames(plan, render_plan(plan), len(plan))
        features = ViewerFeatures(pixelate, exact_images)
        return even_frames(count, config.frames, config.loop, config.easing, render_plan, features)

    def keyframes(self, config: MorphConfig, pixelate=None, callback: ProgressCallback | None = None) -> MorphResult:
        """Return only the keyframes of the morph ``config`` describes: one frame per prompt, rendered
        from the same noise and text as in the full morph, so seeds can be picked cheaply first."""
        keys = self.prepare_keyframes(config, pixelate, in_betweens=False)
        config, pixelate = keys.config, keys.pixelate
        inputs = [
            FrameInputs(keys.latents[i], keys.conditionings[i])
            for i in range(len(config.prompts))
            if i not in keys.images
        ]
        rendered = iter(self.render(inputs, config, callback) if inputs else [])
        frames = [keys.images[i] if i in keys.images else next(rendered) for i in range(len(config.prompts))]
        art = self.pixelate(frames, pixelate, sorted(exact_keyframes(keys)))
        return MorphResult(
            frames=frames,
            pixel_frames=list(art.images),
            palette=np.asarray(art.palette),
            transparent_index=art.transparent_index,
            keyframe_indices=list(range(len(frames))),
            config=config,
            pixelate_config=pixelate,
            plan=[FramePlan(i, i, i, 0.0) for i in range(len(frames))],
            renders=len(frames),
            library=keys.library,
            recoloured=keys.recoloured,
        )


def to_pil(images) -> list[Image.Image]:
    """Return PIL images from float arrays (B, H, W, 3 or 4) in [0, 1]: RGB or RGBA."""
    if isinstance(images, list) and images and isinstance(images[0], Image.Image):
        return images
    arrays = np.asarray(images if not isinstance(images, torch.Tensor) else images.float().cpu().numpy())
    arrays = (np.clip(arrays, 0.0, 1.0) * 255).round().astype(np.uint8)
    modes = {3: "RGB", 4: "RGBA"}
    if arrays.ndim != 4 or arrays.shape[-1] not in modes:
        raise ValueError(f"backend returned images of shape {arrays.shape}, expected (B, H, W, 3 or 4)")
    return [Image.fromarray(a, mode=modes[a.shape[-1]]) for a in arrays]


def started_only(transports: dict[tuple[int, int], ShapeTransport | None], count: int, loop: bool) -> set[int]:
    """Return the keyframes (of ``count``) whose noise only starts in-betweens from moved drawings:
    every segment that meets them has a transport in ``transports`` (`drawing_transports`)."""
    pairs = segment_pairs(count, loop)
    return {
        index
        for index in range(count)
        if all(transports.get(pair) is not None for pair in pairs if index in pair)
        and any(index in pair for pair in pairs)
    }


def exact_keyframes(keys: PreparedKeyframes) -> dict[int, Image.Image]:
    """Return the keyframe images that the pixelation keeps pixel for pixel: the user's images, and
    the sprite library's drawings unless the user gave images (then their art is what must come back);
    never the model's own renders (``keys.rendered``), which are pixelated as frames."""
    user = keys.config.image_keyframes
    return {
        i: image for i, image in keys.images.items() if (i not in keys.library or not user) and i not in keys.rendered
    }


class ShapeStarts:
    """Renders a morph's in-betweens between two drawings (image or library keyframes) from the
    two drawings' pixels moved into each other (`shapes.transport`), noised part way and denoised;
    other frames render from noise as usual. One transport per segment, computed once."""

    def __init__(self, engine: MorphPipeline, keys: PreparedKeyframes):
        self.engine, self.keys = engine, keys
        self.transports: dict[tuple[int, int], ShapeTransport | None] = dict(keys.transports)

    def transport(self, frame: FramePlan) -> ShapeTransport | None:
        """Return the transport of ``frame``'s segment, or None when it does not join two drawings."""
        images = self.keys.images
        pair = (frame.start, frame.end)
        if pair not in self.transports:
            both = frame.start in images and frame.end in images and frame.start != frame.end
            self.transports[pair] = transport(images[frame.start], images[frame.end]) if both else None
        return self.transports[pair]

    def render(self, plan: list[FramePlan], inputs: list[FrameInputs], progress: RenderProgress) -> list[Image.Image]:
        """Return the image of every frame of ``plan`` (none a drawing keyframe), in order."""
        engine, config = self.engine, self.keys.config
        assert config.steps is not None
        out: list[Image.Image | None] = [None] * len(plan)
        plain: list[int] = []
        started: dict[int, int] = {}  # frame number -> the timestep its moved drawing is noised to
        train_steps = int(engine.pipe.scheduler.config.num_train_timesteps)
        for number, frame in enumerate(plan):
            moved = self.transport(frame) if 0.0 < frame.t < 1.0 else None
            if moved is None:
                plain.append(number)
            else:
                started[number] = start_timestep(frame.t, config.shapes, train_steps)
        if plain:
            for number, image in zip(plain, engine.render([inputs[i] for i in plain], config, progress=progress),
                                     strict=True):  # fmt: skip
                out[number] = image
        # Frames that start near each other share batches: fewer frames per evaluation.
        numbers = sorted(started, key=lambda i: (-started[i], i))
        if numbers:
            pictures = []
            for i in numbers:
                moved = self.transport(plan[i])
                assert moved is not None
                pictures.append(moved.at(plan[i].t))
            clean = engine.encode_images(pictures)
            rendered = engine.render_started([inputs[i] for i in numbers], clean, [started[i] for i in numbers],
                                             config, progress)  # fmt: skip
            for number, image in zip(numbers, rendered, strict=True):
                out[number] = image
        assert all(image is not None for image in out)
        return [image for image in out if image is not None]
