"""What the morph engine knows about the model it drives: one typed `Backend`, built by `pixelgif.models`.

The engine never asks a pipeline what it is: everything that differs between models (defaults,
pixel or latent space, RGBA, its own noise prediction, a sprite library) is a field here, filled
in once by whoever loads the model (`pixelgif.models.backend_of`, `pixelgif.models.load_backend`).
``morph/`` imports nothing from ``models/``; ``models/`` imports this module. No torch at import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config import SCHEDULERS

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from .denoiser import Denoiser

# Used when the backend pipeline suggests nothing (Stable Diffusion's usual values).
DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 7.5
DEFAULT_BATCH_SIZE = 4


@dataclass(frozen=True)
class LibraryMatch:
    """What a keyframe prompt matched in a backend's sprite library: the caption, its similarity,
    the drawing picked and the recolouring."""

    prompt: str
    caption: str
    concept: str  # the data set's concept id (an emoji's code points, or name:...)
    score: float
    drawing: int  # which of the concept's drawings (the keyframe's seed picks it)
    drawings: int
    colour: str | None  # the colour family the drawing was turned to, if it was recoloured

    def describe(self) -> str:
        """Return a short account, e.g. "'a whale' (drawing 2 of 6, recoloured blue)": the caption
        without the category some captions add after a comma ("a whale, animal marine, ...")."""
        colour = f", recoloured {self.colour}" if self.colour else ""
        return f"{self.caption.split(',')[0]!r} (drawing {self.drawing + 1} of {self.drawings}{colour})"


@dataclass(frozen=True)
class LibrarySprite:
    """A drawing from a backend's sprite library that a keyframe prompt names: the RGBA drawing and the match."""

    image: Image.Image
    match: LibraryMatch


# (sample, timestep, prompt_embeds) -> the noise prediction (float32), batched like sample.
NoisePredictor = Callable[["torch.Tensor", Any, "torch.Tensor"], "torch.Tensor"]
# (prompt, keyframe seed) -> the library drawing the prompt names, or None.
SpriteFinder = Callable[[str, int], "LibrarySprite | None"]


@dataclass(frozen=True)
class ColourWords:
    """How a backend honours a colour a keyframe prompt names ("a black cat") when its render does not show it."""

    named: Callable[[str], str | None]  # prompt -> the colour family it names, or None
    recolour: Callable[
        [Image.Image, str], Image.Image | None
    ]  # (RGBA render, colour) -> turned to it; None: it shows it


@dataclass(frozen=True)
class Backend:
    """A diffusers pipeline with what the morph engine must know about it (docs/ARCHITECTURE.md).

    ``pipe`` meets the pipeline contract (``encode_prompt``, ``__call__`` with embeddings and
    latents, ``vae_scale_factor``, ``scheduler``, a ``unet`` or ``transformer``, a ``vae`` unless
    pixel space). The defaults are used where a `MorphConfig` field is None.
    """

    pipe: Any
    family: str  # "sd" (SD 1.x/2.x), "sdxl", "sd3", "flux" or "sprite" (the bundled architecture)
    denoiser: Denoiser  # the UNet or transformer and its latent layout
    device: torch.device  # where the pipeline computes
    steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE
    batch_size: int = DEFAULT_BATCH_SIZE
    scheduler: str | None = None  # a name in SCHEDULERS the model samples with by default; None: the pipeline's own
    pixel_space: bool = False  # denoises pixels (no VAE)
    rgba: bool = False  # renders RGBA (transparency); image keyframes then keep theirs
    flow_matching: bool = False  # a transformer sampled by flow matching (SD3, Flux): Euler inversion
    binary_alpha: bool = False  # image keyframes: alpha < 0.5 becomes white and clear, the rest opaque
    predict_noise: NoisePredictor | None = None  # the model's own noise prediction (None: call the UNet)
    library_sprite: SpriteFinder | None = None  # the model's sprite library (None: it has none)
    colour_words: ColourWords | None = None  # recolours a keyframe render that lacks its prompt's colour (None: never)
    # (height, width) -> True when a sample of that size gets the same noise prediction, bit for bit,
    # in any batch: then results computed in different batches may be reused (None: never assumed).
    batch_invariant: Callable[[int, int], bool] | None = None

    def __post_init__(self) -> None:
        if self.scheduler is not None and self.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}; choose one of: {', '.join(SCHEDULERS)}")
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"backend {name} must be a whole number >= 1, got {value!r}")
        if self.guidance_scale < 0:
            raise ValueError(f"backend guidance_scale must be >= 0, got {self.guidance_scale!r}")
        if self.rgba and not self.pixel_space:
            raise ValueError("an RGBA backend must be pixel space (a VAE decodes RGB)")
        if self.flow_matching and self.pixel_space:
            raise ValueError("a flow-matching backend has a VAE; it cannot be pixel space")
