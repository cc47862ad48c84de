"""Image keyframes on the bundled model: inversion round trip and smoothness against plain inversion + slerp.

    python benchmarks/image_keyframes.py             # prints a Markdown table (a few minutes on 2 CPU cores)
    python benchmarks/image_keyframes.py --captions  # the same with captions (the prompts; "a caterpillar", ...)

Pairs: the two sprites of scripts/make_image_keyframe_example.py, and sprites the bundled model
itself drew for two prompts (as a user's own sprites would be), morphed with 8 frames and no loop.
Variants, each adding one thing to the one before:

* plain: DDIM inversion (no refinement) + slerp of the inverted noise, guidance neutral throughout;
* +refine: fixed-point refinement of every inversion step (`morph.images.INVERSION_REFINE`);
* +adain: AdaIN of the in-between noise (`MorphConfig.adain`, on by default);
* +midway: half the guidance back midway (`MorphConfig.midway_guidance` 0.5; off by default); it
  changes nothing without captions or a negative prompt (the negative text is then the caption).

Smoothness and max/mean are `pixelgif.morph.quality` on the final pixel-art frames (what --report
prints); "round trip" is the mean absolute error of regenerating each keyframe from its inverted
noise, on the [-1, 1] RGBA scale.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from make_image_keyframe_example import butterfly, caterpillar

from pixelgif.models import backend_of
from pixelgif.models.bundled import load_bundled_pipeline
from pixelgif.morph import images as morph_images
from pixelgif.morph.config import MorphConfig
from pixelgif.morph.engine import FrameInputs, MorphPipeline, to_pil
from pixelgif.morph.keyframes import Keyframe
from pixelgif.morph.quality import measure_morph

VARIANTS = {
    "plain": dict(refine=0, adain=False, midway_guidance=0.0),
    "+refine": dict(refine=morph_images.INVERSION_REFINE, adain=False, midway_guidance=0.0),
    "+adain (default)": dict(refine=morph_images.INVERSION_REFINE, adain=True, midway_guidance=0.0),
    "+midway 0.5": dict(refine=morph_images.INVERSION_REFINE, adain=True, midway_guidance=0.5),
}


def model_sprite(pipe, prompt: str, seed: int):
    noise = torch.randn((1, 4, 32, 32), generator=torch.Generator().manual_seed(seed))
    return to_pil(pipe(prompt, latents=noise).images)[0]


def round_trip(engine: MorphPipeline, config: MorphConfig) -> float:
    # Without shape starts: then frames start from the keyframes' noise, which must invert exactly
    # (noise that only starts moved drawings skips the noisiest step's refinement).
    keys = engine.prepare_keyframes(dataclasses.replace(config, shapes=0))
    inputs = [FrameInputs(keys.latents[i], keys.conditionings[i]) for i in (0, 1)]
    frames = engine.render(inputs, keys.config)
    targets = engine.encode_images([keys.images[0], keys.images[1]])
    again = torch.stack([torch.from_numpy(np.asarray(f, np.float32) / 127.5 - 1).permute(2, 0, 1) for f in frames])
    return float((again - targets).abs().mean())


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", action="store_true", help="give each image keyframe a caption")
    captions = parser.parse_args().captions
    torch.set_num_threads(2)
    pipe = load_bundled_pipeline()
    engine = MorphPipeline(backend_of(pipe), progress=False)
    pairs = [
        ("caterpillar -> butterfly (drawn)", caterpillar(), butterfly()),
        (
            "red apple -> blue whale (model's)",
            model_sprite(pipe, "a red apple", 0),
            model_sprite(pipe, "a blue whale", 1),
        ),
        ("snowman -> house (model's)", model_sprite(pipe, "a snowman", 2), model_sprite(pipe, "a house", 3)),
    ]
    texts = [("a caterpillar", "a butterfly"), ("a red apple", "a blue whale"), ("a snowman", "a house")]
    if captions:
        pairs = [
            (name, Keyframe(image=a, caption=ta), Keyframe(image=b, caption=tb))
            for (name, a, b), (ta, tb) in zip(pairs, texts, strict=True)
        ]
    print(
        "| pair | variant | round trip | linear smooth | linear max/mean | even smooth | even max/mean | seconds (even) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, first, second in pairs:
        for variant, options in VARIANTS.items():
            morph_images.INVERSION_REFINE = options["refine"]
            base = dict(prompts=[first, second], frames=8, adain=options["adain"],
                        midway_guidance=options["midway_guidance"])  # fmt: skip
            error = round_trip(engine, MorphConfig(**base))
            row = [name, variant, f"{error:.4f}"]
            for spacing in ("linear", "even"):
                started = time.perf_counter()
                quality = measure_morph(engine(MorphConfig(**base, spacing=spacing)))
                row += [f"{quality.overall.smoothness:.3f}", f"{quality.overall.max_mean:.2f}"]
            row.append(f"{time.perf_counter() - started:.1f}")
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
