"""Does the bundled model follow its prompt? Measured against its own training sprites.

For 100 training captions and 50 new phrasings of known concepts, render one sprite per prompt
with fixed seeds, find the nearest training sprites (mean per-pixel OKLab distance, sprites
composited on white) and count how often they show the prompt's concept (top-1 / top-5), with
classifier-free guidance on and off. Also writes a contact sheet and measures how smoothly a
two-prompt morph changes colour from frame to frame.

    python benchmarks/bundled_quality.py --data data/emoji32.npz [--sheet docs/bundled_contact_sheet.png]

``--colour`` instead measures colour words: for "a <colour> <object>" prompts (7 colours x 6
objects x 2 seeds), how often the sprite's dominant hue family (OKLab, ignoring transparent and
near-grey pixels; pixelgif.train.bundled.colour_captions) is the named colour, against chance.

    python benchmarks/bundled_quality.py --colour
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from PIL import Image

from pixelgif.models import bundled
from pixelgif.pixelate.color import srgb8_to_oklab
from pixelgif.train.bundled.data import load_dataset

# New phrasings of concepts in the training set -> the emoji codes that count as a hit.
NEW_PHRASINGS = {
    "a crimson heart": ["2764-FE0F"],
    "a small green tree": ["1F333"],
    "a pine tree": ["1F332"],
    "a shiny red apple": ["1F34E"],
    "a yellow banana": ["1F34C"],
    "a burning flame": ["1F525"],
    "an ice crystal": ["2744-FE0F"],
    "a green dragon": ["1F409"],
    "a big blue whale": ["1F40B", "1F433"],
    "a cute kitten face": ["1F431"],
    "a puppy face": ["1F436"],
    "a little house": ["1F3E0", "1F3E1"],
    "a medieval castle": ["1F3F0"],
    "a space rocket": ["1F680"],
    "a red car": ["1F697"],
    "a bike": ["1F6B2"],
    "a cheeseburger": ["1F354"],
    "a ripe strawberry": ["1F353"],
    "a slice of watermelon": ["1F349"],
    "an orange carrot": ["1F955"],
    "a red mushroom": ["1F344"],
    "a spooky ghost": ["1F47B"],
    "a human skull": ["1F480"],
    "a golden crown": ["1F451"],
    "a blue diamond": ["1F48E"],
    "a black bomb": ["1F4A3"],
    "a swimming fish": ["1F41F", "1F420"],
    "a purple octopus": ["1F419"],
    "a green snake": ["1F40D"],
    "a sea turtle": ["1F422"],
    "a penguin bird": ["1F427"],
    "a snowman": ["2603-FE0F", "26C4"],
    "a decorated christmas tree": ["1F384"],
    "a halloween pumpkin": ["1F383"],
    "a yellow sunflower": ["1F33B"],
    "a red rose flower": ["1F339"],
    "a desert cactus": ["1F335"],
    "a tropical palm tree": ["1F334"],
    "an erupting volcano": ["1F30B"],
    "a colorful rainbow": ["1F308"],
    "a lightning bolt": ["26A1"],
    "an ocean wave": ["1F30A"],
    "a yellow star": ["2B50", "1F31F"],
    "a lion head": ["1F981"],
    "a pink pig face": ["1F437"],
    "a chocolate chip cookie": ["1F36A"],
    "a cup of coffee": ["2615"],
    "an electric guitar": ["1F3B8"],
    "a gold trophy": ["1F3C6"],
    "a bumblebee": ["1F41D"],
}
SHEET_PROMPTS = [
    "a red apple",
    "a green dragon",
    "a blue whale",
    "a snowman",
    "a castle",
    "a rocket",
    "a ghost",
    "a crown",
    "a pizza",
    "a cat face",
    "a dog face",
    "a sunflower",
    "a fire",
    "a rainbow",
    "a skull",
    "a robot face",
    "a cactus",
    "a mushroom",
    "a heart",
    "a star",
    "a tree",
    "a house",
    "a car",
    "a fish",
    "an octopus",
    "a penguin",
    "a cake",
    "a guitar",
    "a trophy",
    "a bomb",
    "a gem stone",
    "a key",
]


COLOUR_OBJECTS = ["balloon", "car", "heart", "apple", "fish", "star"]

# Everyday prompts in ordinary words (issue 14's test): objects, animals, food, vehicles, fantasy
# things. None is a training caption (checked at run time against the data set's captions).
EVERYDAY = [
    "a fire breathing dragon", "a big blue whale", "a little green frog", "a ripe yellow banana",
    "a red party balloon", "a blue sports car", "a chocolate birthday cake", "a pizza slice",
    "a hot cup of coffee", "a strawberry ice cream cone", "a cute cat", "a happy puppy",
    "an orange goldfish", "a small blue bird", "a brown horse", "a muddy farm pig", "a green snake",
    "a black spider", "a spooky ghost", "a friendly robot", "a steel sword", "a golden crown",
    "a wooden treasure chest", "a magic potion bottle", "a space rocket", "a racing bicycle",
    "a white sailboat", "a jet airplane", "a cozy house", "a tall pine tree", "a bright sunflower",
    "a happy snowman",
]  # fmt: skip


def everyday_sheet(
    pipe, guidance: float, path: Path, captions: set[str], seeds: int = 2, library: bool = False
) -> None:
    """Write a labelled contact sheet of the EVERYDAY prompts, ``seeds`` sprites each, and list them.

    ``library``: what a morph's keyframe shows by default: the sprite library's drawing where the
    prompt names one (labelled "L"), else the model's render."""
    from PIL import ImageDraw

    training = [p for p in EVERYDAY if p in captions]
    print(f"everyday prompts: {len(EVERYDAY)}; training captions among them: {training or 'none'}")
    sprites = [render(pipe, EVERYDAY, guidance, seed=2000 * s) for s in range(seeds)]
    found = [[None] * len(EVERYDAY) for _ in range(seeds)]
    if library:
        for s in range(seeds):
            for i, prompt in enumerate(EVERYDAY):
                hit = pipe.library_sprite(prompt, 2000 * s + i)
                if hit is not None:
                    sprites[s][i] = np.asarray(hit[0])
                    found[s][i] = hit[1]
        hits = sum(match is not None for match in found[0])
        print(f"sprite library: {hits} of {len(EVERYDAY)} prompts matched a drawing")
        for prompt, match in zip(EVERYDAY, found[0], strict=True):
            print(f"  {prompt!r}: " + (match.describe() if match else "drawn by the model"))
    scale, label, columns = 3, 14, 4
    cell_w, cell_h = seeds * 32 * scale + 12, 32 * scale + label + 8
    rows = -(-len(EVERYDAY) // columns)
    sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, prompt in enumerate(EVERYDAY):
        x, y = (i % columns) * cell_w + 6, (i // columns) * cell_h + 4
        for s in range(seeds):
            tile = Image.fromarray(sprites[s][i], "RGBA").resize((32 * scale, 32 * scale), Image.NEAREST)
            sheet.paste(tile, (x + s * 32 * scale, y), tile)
        mark = " (L)" if found[0][i] is not None else ""
        draw.text((x, y + 32 * scale + 1), f"{i + 1}. {prompt}{mark}", fill=(0, 0, 0))
    sheet.save(path)
    print(
        f"wrote {path}: {len(EVERYDAY)} prompts x {seeds} seeds (seed {', '.join(str(2000 * s) for s in range(seeds))} + index), guidance {guidance}"
    )


def library_matches(pipe) -> None:
    """Print how often the sprite library finds the right concept for the new phrasings, and what it
    finds for the everyday prompts (no concept list: judge the captions)."""
    right = found = 0
    for prompt, wanted in NEW_PHRASINGS.items():
        hit = pipe.library_sprite(prompt, 0)
        found += hit is not None
        right += hit is not None and hit[1].concept in wanted
        if hit is None or hit[1].concept not in wanted:
            print(
                f"  {prompt!r}: "
                + (f"{hit[1].caption!r} ({hit[1].concept}, {hit[1].score:.2f})" if hit else "no match")
            )
    print(f"new phrasings: {found} of {len(NEW_PHRASINGS)} matched a drawing, {right} the wanted concept "
          f"({right / len(NEW_PHRASINGS):.2f})")  # fmt: skip
    everyday = sum(pipe.library_sprite(prompt, 0) is not None for prompt in EVERYDAY)
    print(f"everyday prompts: {everyday} of {len(EVERYDAY)} matched a drawing (see --everyday --library)")


def colour_accuracy(pipe, guidance: float, seeds: int = 2, library: bool = False) -> None:
    """Print how often "a <colour> <object>" sprites come out that colour (per colour, overall) and chance levels.

    ``library``: keyframes as a morph makes them by default (the sprite library's recoloured drawing
    where the object is known, else the model's render)."""
    from pixelgif.train.bundled.colour_captions import COLOURS, dominant_hue

    prompts = [(c, o) for o in COLOUR_OBJECTS for c in COLOURS]
    start = time.perf_counter()
    texts = [f"a {c} {o}" for c, o in prompts]
    families = []
    for s in range(seeds):
        sprites = render(pipe, texts, guidance, seed=1000 * s)
        if library:
            for i, text in enumerate(texts):
                hit = pipe.library_sprite(text, 1000 * s + i)
                if hit is not None:
                    sprites[i] = np.asarray(hit[0])
        families.append([dominant_hue(sprite).family for sprite in sprites])
    seconds = time.perf_counter() - start
    rows = [(c, o, f) for fams in families for (c, o), f in zip(prompts, fams, strict=True)]
    hits = {c: np.mean([f == c for cc, _, f in rows if cc == c]) for c in COLOURS}
    # Colour-blind baseline: if the model ignored the colour word, each object's sprites would
    # fall into families as they do now, whatever colour is asked for.
    blind = np.mean([np.mean([f in COLOURS for _, oo, f in rows if oo == o]) / len(COLOURS) for o in COLOUR_OBJECTS])
    no_colour = np.mean([f is None for *_, f in rows])
    print(
        f"colour words, guidance {guidance:.1f}: {len(rows)} sprites ({len(COLOURS)} colours x "
        f"{len(COLOUR_OBJECTS)} objects x {seeds} seeds), {seconds:.0f} s"
    )
    print("  " + "  ".join(f"{c} {hits[c]:.2f}" for c in COLOURS))
    print(
        f"  right colour: {np.mean([f == c for c, _, f in rows]):.3f}; chance 1/{len(COLOURS)} = "
        f"{1 / len(COLOURS):.3f}; colour-blind baseline {blind:.3f}; no single dominant colour: {no_colour:.2f}"
    )
    for o in COLOUR_OBJECTS:  # asked -> measured, first seed ('-': no single dominant colour)
        seed0 = [f"{c[:3]}->{(f or '-')[:3]}" for c, oo, f in rows[: len(prompts)] if oo == o]
        print(f"  seed 0, {o:<8} " + " ".join(seed0))


def on_white_oklab(rgba: np.ndarray) -> np.ndarray:
    """Return (N, H*W, 3) OKLab of RGBA uint8 sprites composited on white."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    rgb = (rgba[..., :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
    return srgb8_to_oklab(rgb.reshape(len(rgba), -1, 3))


def render(pipe, prompts: list[str], guidance: float, seed: int = 0, batch: int = 25) -> np.ndarray:
    """Return RGBA uint8 sprites, one per prompt, seed ``seed + i`` each."""
    out = []
    for start in range(0, len(prompts), batch):
        chunk = prompts[start : start + batch]
        noise = torch.stack(
            [
                torch.randn((4, 32, 32), generator=torch.Generator().manual_seed(seed + start + i))
                for i in range(len(chunk))
            ]
        )
        images = pipe(chunk, latents=noise, guidance_scale=guidance).images
        rgba = (images * 255).round().astype(np.uint8)
        rgba[..., 3] = np.where(rgba[..., 3] >= 128, 255, 0)
        out.append(rgba)
    return np.concatenate(out)


def hit_rates(generated_lab, train_lab, train_concepts, wanted: list[set[str]]) -> tuple[float, float]:
    """Return (top-1, top-5) rates: the nearest / 5 nearest training sprites show a wanted concept."""
    top1 = top5 = 0
    for lab, want in zip(generated_lab, wanted, strict=True):
        distance = np.linalg.norm(train_lab - lab[None], axis=-1).mean(axis=1)
        order = np.argsort(distance)[:5]
        top1 += train_concepts[order[0]] in want
        top5 += any(train_concepts[i] in want for i in order)
    return top1 / len(wanted), top5 / len(wanted)


def candidate_rates(generated_lab, train_lab, train_concepts, wanted: list[set[str]]) -> tuple[float, float, float]:
    """Return (top-1, top-5, chance top-1) when only the evaluated prompts' concepts compete.

    A softer check of conditioning than `hit_rates`: is the sprite nearer to its own concept's
    training sprites than to those of the other concepts in the same prompt set?
    """
    candidates = sorted({c for want in wanted for c in want})
    members = [np.flatnonzero(train_concepts == c) for c in candidates]
    top1 = top5 = 0
    for lab, want in zip(generated_lab, wanted, strict=True):
        distance = np.linalg.norm(train_lab - lab[None], axis=-1).mean(axis=1)
        per_concept = np.array([distance[m].min() for m in members])
        order = [candidates[i] for i in np.argsort(per_concept)[:5]]
        top1 += order[0] in want
        top5 += any(c in want for c in order)
    return top1 / len(wanted), top5 / len(wanted), 1 / len(candidates)


def contact_sheet(sprites: np.ndarray, path: Path, scale: int = 4, columns: int = 8) -> None:
    rows = -(-len(sprites) // columns)
    sheet = Image.new("RGBA", (columns * 32 * scale, rows * 32 * scale), (255, 255, 255, 255))
    for i, sprite in enumerate(sprites):
        tile = Image.fromarray(sprite, "RGBA").resize((32 * scale, 32 * scale), Image.NEAREST)
        sheet.alpha_composite(tile, ((i % columns) * 32 * scale, (i // columns) * 32 * scale))
    sheet.convert("RGB").save(path)


def morph_smoothness(frames: np.ndarray) -> tuple[float, float]:
    """Return (mean, max) over consecutive frame pairs of the mean per-pixel OKLab change."""
    lab = on_white_oklab(frames)
    steps = np.linalg.norm(np.diff(lab, axis=0), axis=-1).mean(axis=1)
    return float(steps.mean()), float(steps.max())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/emoji32.npz"))
    parser.add_argument("--sheet", type=Path, default=None, help="write a contact sheet of 32 prompts here")
    parser.add_argument("--train-captions", type=int, default=100)
    parser.add_argument(
        "--weights", type=Path, default=None, help="weights folder to evaluate (default: the shipped one)"
    )
    parser.add_argument(
        "--guidance",
        type=lambda s: [float(g) for g in s.split(",")],
        default=None,
        help="guidance scales to compare, e.g. 4,7,10 (default: the model's and 1 = no CFG)",
    )
    parser.add_argument("--no-morph", action="store_true", help="skip the morph smoothness check")
    parser.add_argument(
        "--everyday", type=Path, default=None, help="only write the labelled contact sheet of 32 everyday prompts here"
    )
    parser.add_argument(
        "--library",
        action="store_true",
        help="--everyday, --colour: keyframes as a morph makes them by default (sprite-library drawings where a "
        "prompt names one)",
    )
    parser.add_argument(
        "--colour",
        action="store_true",
        help="only measure colour words: 'a <colour> <object>' sprites in the named colour",
    )
    parser.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16"),
        default="auto",
        help="the UNet's dtype (default: what `pixelgif morph` picks on this machine)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    if args.colour:
        if args.weights:
            bundled.WEIGHTS_DIR = args.weights
        from pixelgif.models.loading import resolve_dtype

        pipe = bundled.load_bundled_pipeline(dtype=resolve_dtype(torch.device("cpu"), args.dtype, sprite_model=True))
        for guidance in args.guidance or (pipe.default_guidance_scale,):
            colour_accuracy(pipe, guidance, library=args.library)
        return 0
    if args.library and not args.everyday:
        pipe = bundled.load_bundled_pipeline()
        library_matches(pipe)
        return 0
    pixels, meta = load_dataset(args.data)
    if args.everyday:
        if args.weights:
            bundled.WEIGHTS_DIR = args.weights
        from pixelgif.models.loading import resolve_dtype

        pipe = bundled.load_bundled_pipeline(dtype=resolve_dtype(torch.device("cpu"), args.dtype, sprite_model=True))
        captions = {c for m in meta for c in m["captions"]}
        everyday_sheet(pipe, (args.guidance or [pipe.default_guidance_scale])[0], args.everyday, captions,
                       library=args.library)  # fmt: skip
        return 0
    concepts = np.array([m["concept"] for m in meta])
    train_lab = on_white_oklab(pixels)
    rng = np.random.default_rng(0)
    picks = rng.choice(len(meta), args.train_captions, replace=False)
    sets = {
        "training captions": ([meta[i]["captions"][0] for i in picks], [{concepts[i]} for i in picks]),
        "new phrasings": (list(NEW_PHRASINGS), [set(v) for v in NEW_PHRASINGS.values()]),
    }
    if args.weights:
        bundled.WEIGHTS_DIR = args.weights
    from pixelgif.models.loading import resolve_dtype

    dtype = resolve_dtype(torch.device("cpu"), args.dtype, sprite_model=True)
    pipe = bundled.load_bundled_pipeline(dtype=dtype)
    print(f"UNet dtype: {str(dtype).removeprefix('torch.')}")
    chance = np.mean([np.mean(concepts == c) for c in concepts])
    print(f"{len(pixels)} training sprites, {len(set(concepts))} concepts; chance top-1 ~ {chance:.4f}")
    print(
        f"{'prompts':<18} {'guidance':>8} {'top-1':>6} {'top-5':>6} | among the set's concepts: "
        f"{'top-1':>6} {'top-5':>6} {'chance':>6} | {'seconds':>7}"
    )
    for name, (prompts, wanted) in sets.items():
        for guidance in args.guidance or (pipe.default_guidance_scale, 1.0):
            start = time.perf_counter()
            lab = on_white_oklab(render(pipe, prompts, guidance))
            top1, top5 = hit_rates(lab, train_lab, concepts, wanted)
            set1, set5, chance1 = candidate_rates(lab, train_lab, concepts, wanted)
            print(
                f"{name:<18} {guidance:>8.1f} {top1:>6.2f} {top5:>6.2f} | {'':>24}{set1:>6.2f} {set5:>6.2f} "
                f"{chance1:>6.3f} | {time.perf_counter() - start:>7.1f}"
            )
    if args.sheet:
        contact_sheet(render(pipe, SHEET_PROMPTS, pipe.default_guidance_scale), args.sheet)
        print(f"contact sheet: {args.sheet}")
    if args.no_morph:
        return 0
    from pixelgif.models import backend_of
    from pixelgif.morph.engine import MorphConfig, MorphPipeline

    result = MorphPipeline(backend_of(pipe), progress=False)(
        MorphConfig(prompts=["a red apple", "a blue whale"], frames=15)
    )
    frames = np.stack([np.asarray(frame.convert("RGBA")) for frame in result.frames])
    frames[..., 3] = np.where(frames[..., 3] >= 128, 255, 0)
    mean, peak = morph_smoothness(frames)
    print(
        f"morph 'a red apple' -> 'a blue whale', {len(frames)} frames: OKLab change between consecutive "
        f"frames, mean {mean:.4f}, max {peak:.4f} (whole morph: {morph_smoothness(frames[[0, -1]])[0]:.4f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
