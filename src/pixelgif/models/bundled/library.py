"""The sprite library: the bundled model's training drawings, so that a prompt naming a known
sprite ("a big blue whale") starts from a real drawing of it, recoloured to the colour it names.

A keyframe found here is used as an image keyframe (inverted to its noise; the frames between
keyframes are rendered by the model). Matching compares MiniLM sentence embeddings of the prompt,
colour words left out, with the library's captions; below `MIN_SIMILARITY` the model draws the
keyframe itself. Built by ``python -m pixelgif.train.bundled.library``. No torch here.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

from ...morph.backend import LibraryMatch  # the engine's type: models/ fills it, morph/ reads it
from .colours import COLOUR_WORDS, COLOURS, dominant_hue, rotate_to

LIBRARY_DIR = Path(__file__).resolve().parent / "library"
SPRITES_FILE, INDEX_FILE = "sprites.npz", "index.json"
# Cosine similarity of sentence embeddings; everyday prompts for known sprites scored 0.62-1.0 on
# their concept, unrelated ones ("asdf qwer", "a wizard with a staff" -> "a magic wand") 0.5-0.56.
MIN_SIMILARITY = 0.6
# Colour words the recolouring knows, as the colour family they turn a sprite to.
COLOUR_FAMILIES = {**{c: c for c in COLOURS}, "crimson": "red", "scarlet": "red", "violet": "purple",
                   "gold": "yellow", "golden": "yellow", "navy": "blue", "cyan": "blue", "turquoise": "blue",
                   "teal": "green", "magenta": "pink"}  # fmt: skip


class SpriteLibrary:
    """Drawings by concept, with caption embeddings to find them by prompt."""

    def __init__(self, pixels: np.ndarray, sprite_concepts: np.ndarray, embeddings: np.ndarray,
                 caption_concepts: np.ndarray, captions: list[str], concepts: list[str] | None = None):  # fmt: skip
        self.pixels = pixels  # (N, 32, 32, 4) uint8
        self.sprite_concepts = sprite_concepts  # (N,) concept index of each drawing
        self.embeddings = embeddings  # (C, D) float32, unit rows
        self.caption_concepts = caption_concepts  # (C,) concept index of each caption
        self.captions = captions
        self.concepts = concepts or [str(i) for i in range(int(caption_concepts.max(initial=-1)) + 1)]

    @classmethod
    def load(cls, folder: Path = LIBRARY_DIR) -> SpriteLibrary | None:
        """Return the library in ``folder``, or None when it is not installed."""
        if not (folder / SPRITES_FILE).is_file():
            return None
        with np.load(folder / SPRITES_FILE) as data:
            pixels, sprite_concepts = data["pixels"], data["sprite_concepts"]
            embeddings = data["embeddings"].astype(np.float32) / 127.0  # stored as int8
            caption_concepts = data["caption_concepts"]
        index = json.loads((folder / INDEX_FILE).read_text())
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        unit = embeddings / np.maximum(norms, 1e-6)
        return cls(pixels, sprite_concepts, unit, caption_concepts, index["captions"], index["concepts"])

    def find(self, prompt: str, embed, seed: int) -> tuple[np.ndarray, LibraryMatch] | None:
        """Return (RGBA drawing, match) for ``prompt``, or None when nothing is close enough.

        ``embed(texts)`` returns unit sentence embeddings (`text.sentence_embeddings`); ``seed``
        picks one of the concept's drawings.
        """
        words = prompt.lower().replace(",", " ").split()
        # A colour word before another word is an adjective ("an orange goldfish"); last, it is the noun ("an orange").
        named = [i for i, w in enumerate(words[:-1]) if w in COLOUR_WORDS or w in COLOUR_FAMILIES]
        colour = next((COLOUR_FAMILIES[words[i]] for i in named if words[i] in COLOUR_FAMILIES), None)
        subject = " ".join(w for i, w in enumerate(words) if i not in named)
        if not subject:
            return None
        scores = self.embeddings @ np.asarray(embed([subject]), dtype=np.float32)[0]
        best = int(scores.argmax())
        if scores[best] < MIN_SIMILARITY:
            return None
        concept = int(self.caption_concepts[best])
        drawings = np.flatnonzero(self.sprite_concepts == concept)
        pick = seed % len(drawings)
        sprite = self.pixels[drawings[pick]]
        turned = None
        info = dominant_hue(sprite)
        if colour is not None and info.family is not None and info.family != colour:
            sprite, turned = rotate_to(sprite, info, colour), colour
        match = LibraryMatch(prompt, self.captions[best], self.concepts[concept], float(scores[best]), pick,
                             len(drawings), turned)  # fmt: skip
        return sprite, match


@cache
def bundled_library() -> SpriteLibrary | None:
    """Return the library shipped with the bundled model (loaded once), or None."""
    return SpriteLibrary.load()
