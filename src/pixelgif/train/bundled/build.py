"""Build the bundled model's training set: ``python -m pixelgif.train.bundled.build``.

v1 (the default): the emoji sets (``data.py``). v2 adds the extra art sources (``sprite_sources.py``)
and hue-rotated colour copies (``colour_captions.py``):

    python -m pixelgif.train.bundled.build --npm data/npm/node_modules -o data/emoji32.npz
    python -m pixelgif.train.bundled.build --npm data/npm/node_modules --sources all --colour-copies 2 \
        --arcade data/pypi/arcade-3.3.3-py3-none-any.whl -o data/emoji32_v2.npz
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from pathlib import Path

from .data import SOURCES, Sprite, load_sprites, save_dataset
from .sprite_sources import ALL_SOURCES, load_extra_sprites

EMOJI = "emoji"  # the v1 sets: emoji-datasource-twitter and -google


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the v2 options (extra sources, colour copies) to the builder's parser."""
    parser.add_argument(
        "--sources",
        default=EMOJI,
        help=f"comma-separated art sources: {EMOJI} (Twemoji + Noto, the v1 set), "
        f"{', '.join(ALL_SOURCES)}, or 'all' (default: {EMOJI})",
    )
    parser.add_argument(
        "--arcade",
        type=Path,
        default=None,
        help="the arcade 3.3.3 wheel (or its unpacked folder) for the Kenney sprites "
        "(default: data/pypi/arcade-3.3.3-py3-none-any.whl if present)",
    )
    parser.add_argument(
        "--colour-copies",
        type=int,
        default=0,
        help="hue-rotated copies per mostly-one-colour sprite, their captions naming the new colour (default 0)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the colour copies' choice of colours")


def chosen_sources(spec: str) -> list[str]:
    """Return the source keys a --sources value names ('all' = every source)."""
    keys = [EMOJI, *ALL_SOURCES] if spec.strip() == "all" else [k.strip() for k in spec.split(",") if k.strip()]
    unknown = set(keys) - {EMOJI, *ALL_SOURCES}
    if unknown:
        raise SystemExit(f"unknown --sources {sorted(unknown)}; choose from {EMOJI}, {', '.join(ALL_SOURCES)}, all")
    return keys


def emoji_entries(npm_root: Path) -> list[dict]:
    """Return the emoji.json entries of the first emoji-datasource package installed ([] if none)."""
    for package in SOURCES:
        path = npm_root / package / "emoji.json"
        if path.is_file():
            return json.loads(path.read_text())
    return []


def extend(sprites: list[Sprite], args: argparse.Namespace, progress: bool = True) -> list[Sprite]:
    """Return ``sprites`` (the v1 emoji sprites) with the chosen extra sources and colour copies added."""
    from .colour_captions import colour_copies

    keys = chosen_sources(args.sources)
    if EMOJI not in keys:
        sprites = []
    extra = [k for k in keys if k != EMOJI]
    if extra:
        entries = emoji_entries(args.npm)
        if not entries:
            raise FileNotFoundError(
                f"the extra sources map icons to emoji.json: install emoji-datasource-twitter under {args.npm}"
            )
        arcade = args.arcade or next(iter(sorted(Path("data/pypi").glob("arcade-3.3.3-*.whl"))), None)
        if "kenney" in extra and arcade is None:
            print("kenney: no arcade wheel (--arcade), skipped")
        sprites = sprites + load_extra_sprites(args.npm, entries, extra, arcade, progress)
    if args.colour_copies > 0:
        sprites = sprites + colour_copies(sprites, args.colour_copies, args.seed)
    return sprites


def summary(sprites: list[Sprite]) -> str:
    """Return a few lines of numbers about a data set: sprites per source, concepts, drawings per concept."""
    per_source = Counter(s.source for s in sprites)
    drawings = Counter(s.concept for s in sprites if not s.source.startswith("hue:"))
    copies = sum(n for source, n in per_source.items() if source.startswith("hue:"))
    lines = [f"{n:6d}  {source}" for source, n in sorted(per_source.items(), key=lambda kv: -kv[1])]
    counts = list(drawings.values()) or [0]
    lines.append(
        f"{len(drawings)} concepts ({sum(not c.startswith('name:') for c in drawings)} emoji); drawings per "
        f"concept (colour copies not counted): median {statistics.median(counts):g}, "
        f"mean {statistics.mean(counts):.2f}; colour copies: {copies}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import time

    parser = argparse.ArgumentParser(description="Build the bundled model's emoji sprite data set.")
    parser.add_argument(
        "--npm", type=Path, required=True, help="node_modules folder with the emoji-datasource-* packages"
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("data/emoji32.npz"))
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images (for tests)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    emoji = EMOJI in chosen_sources(args.sources)
    sprites = extend(load_sprites(args.npm, args.limit) if emoji else [], args)
    save_dataset(sprites, args.output)
    print(summary(sprites))
    print(
        f"{len(sprites)} sprites, {sum(len(s.captions) for s in sprites)} captions -> {args.output} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
