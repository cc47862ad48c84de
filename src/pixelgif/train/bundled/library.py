"""Build the bundled model's sprite library from its training set:

    python -m pixelgif.train.bundled.library --data data/emoji32_v2.npz \
        --tags data/npm/node_modules/emojibase-data/en/data.json

Keeps every drawing (not the hue-rotated copies: the library recolours at run time) and, per
concept, up to `CAPTIONS_PER_CONCEPT` captions with their MiniLM sentence embeddings (int8), into
``pixelgif/models/bundled/library/`` (see `pixelgif.models.bundled.library`). ``--tags``: the npm
package emojibase-data's English data (MIT; CLDR annotations): each emoji concept's keywords.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from ...models.bundled.library import INDEX_FILE, LIBRARY_DIR, SPRITES_FILE
from .data import load_dataset

CAPTIONS_PER_CONCEPT = 4


def library_arrays(pixels: np.ndarray, meta: list[dict]) -> tuple[dict[str, np.ndarray], list[str], list[str], Counter]:
    """Return (arrays but the embeddings, captions, concept ids, drawings per source) of the library."""
    drawings = [i for i, m in enumerate(meta) if not m["source"].startswith("hue:")]
    concepts: dict[str, int] = {}
    captions: list[str] = []
    caption_concepts: list[int] = []
    for i in drawings:
        if meta[i]["concept"] in concepts:
            continue
        concepts[meta[i]["concept"]] = len(concepts)
        # The first drawing of a concept names it; "pixel art of ..." adds nothing to match on.
        own = [c for c in dict.fromkeys(meta[i]["captions"]) if not c.startswith("pixel art of")]
        captions += own[:CAPTIONS_PER_CONCEPT]
        caption_concepts += [len(concepts) - 1] * len(own[:CAPTIONS_PER_CONCEPT])
    arrays = {
        "pixels": pixels[drawings],
        "sprite_concepts": np.asarray([concepts[meta[i]["concept"]] for i in drawings], dtype=np.int32),
        "caption_concepts": np.asarray(caption_concepts, dtype=np.int32),
    }
    return arrays, captions, list(concepts), Counter(meta[i]["source"] for i in drawings)


def emoji_keywords(data_file: Path, concepts: list[str]) -> dict[str, str]:
    """Return {concept id: its keywords, space-separated} for the emoji ``concepts`` (code points, as
    "1F332" or "0023-FE0F-20E3") found in emojibase-data's ``data.json``; variation selectors do not count."""

    def code(hexcode: str) -> str:
        return "-".join(part for part in hexcode.upper().split("-") if part != "FE0F")

    keywords = {code(entry["hexcode"]): entry.get("tags") or [] for entry in json.loads(data_file.read_text())}
    found = {concept: keywords.get(code(concept)) for concept in concepts if not concept.startswith("name:")}
    return {concept: " ".join(sorted(tags)) for concept, tags in found.items() if tags}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/emoji32_v2.npz"), help="the training set")
    parser.add_argument("-o", "--out", type=Path, default=LIBRARY_DIR, help="library folder (default: the package's)")
    parser.add_argument("--tags", type=Path, help="emojibase-data's en/data.json: the emoji's keywords")
    args = parser.parse_args(argv)
    from ...models.bundled.text import load_text_encoder, sentence_embeddings

    pixels, meta = load_dataset(args.data)
    arrays, captions, concepts, sources = library_arrays(pixels, meta)
    tokenizer, encoder = load_text_encoder()
    embeddings = sentence_embeddings(tokenizer, encoder, captions)
    arrays["embeddings"] = np.round(embeddings * 127).astype(np.int8)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / SPRITES_FILE, pixels=arrays["pixels"], sprite_concepts=arrays["sprite_concepts"],
                        caption_concepts=arrays["caption_concepts"], embeddings=arrays["embeddings"])  # fmt: skip
    index = {"captions": captions, "concepts": concepts, "drawings_per_source": dict(sorted(sources.items()))}
    if args.tags is not None:
        index["tags"] = emoji_keywords(args.tags, concepts)
    (args.out / INDEX_FILE).write_text(json.dumps(index, indent=0) + "\n")
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 1e6
    print(f"{len(arrays['pixels'])} drawings of {len(concepts)} concepts, {len(captions)} captions -> {args.out} "
          f"({size:.1f} MB)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
