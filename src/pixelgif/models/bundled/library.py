"""The sprite library: the bundled model's training drawings, so that a prompt naming a known
sprite ("a big blue whale") starts from a real drawing of it, recoloured to the colour it names.

A keyframe found here is used as an image keyframe (inverted to its noise; the frames between
keyframes are rendered by the model). Matching compares MiniLM sentence embeddings of the prompt,
colour words left out, with the library's captions; below `MIN_SIMILARITY` the model draws the
keyframe itself. A drawing is used only when it is the thing named: the prompt's head noun must
be the caption's (or a close synonym, `NOUN_SIMILARITY`), and its other nouns must be in the
concept's captions (a wrong drawing is worse than none: "a spaceship" is not a cruise ship).
Built by ``python -m pixelgif.train.bundled.library``. No torch here.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np

from ...morph.backend import LibraryMatch  # the engine's type: models/ fills it, morph/ reads it
from .colours import COLOUR_WORDS, has_colour, named_colour, recolour

LIBRARY_DIR = Path(__file__).resolve().parent / "library"
SPRITES_FILE, INDEX_FILE = "sprites.npz", "index.json"
# Cosine similarity of sentence embeddings; everyday prompts for known sprites scored 0.62-1.0 on
# their concept, unrelated ones ("asdf qwer", "a wizard with a staff" -> "a magic wand") 0.5-0.56.
MIN_SIMILARITY = 0.6
# Cosine similarity of the prompt's head noun and a caption's when they are different words:
# kitten/cat 0.79, puppy/dog 0.80, padlock/lock 0.75 pass; laptop/notebook 0.73, starfish/fish 0.68,
# spaceship/ship 0.64, pumpkin/potato 0.56 do not.
NOUN_SIMILARITY = 0.74
# Spelling variants ("donut"/"doughnut" 0.70, letters 0.77 alike) pass at a lower similarity.
VARIANT_SIMILARITY, VARIANT_LETTERS = 0.65, 0.75
# "a school bus" -> "a bus": a kind of a thing the library draws plainly (its caption is the bare
# head noun), one naming word more, the prompt this close to that caption ("a space station" 0.73
# is no station) and closer to it than to the naming word by `GENERIC_MARGIN` ("a pirate ship" is
# nearer "a pirate" than "a ship"; "a fish tank" is as near "a fish"). Two words more ("a hot air
# balloon") name another thing.
GENERIC_SIMILARITY, GENERIC_MARGIN = 0.78, 0.05
# "a fire truck" -> "a fire engine": other head nouns, the same naming words, a close sentence.
# The head nouns must still be related (truck/engine 0.54; a pine tree is no pine decoration).
SAME_NAMING_SIMILARITY, RELATED_NOUNS = 0.75, 0.5
# A prompt's words that no caption has ("a roaring lion", "a wizard hat"): the prompt must stay this
# similar to its bare head noun ("a lion" 0.82, "a hat" 0.78), else they name another thing.
MODIFIER_SIMILARITY = 0.83
# Below MIN_SIMILARITY, a prompt may still take a drawing whose emoji has its head noun (and its
# other naming words) among its keywords ("a pumpkin" 0.57 -> "a jack o lantern": pumpkin,
# halloween), when at most KEYWORD_HOLDERS emoji have that noun: a keyword many share is a theme
# ("holiday": Santa, the Christmas tree; "body", "math", "race"), not the thing.
KEYWORD_SIMILARITY, KEYWORD_HOLDERS = 0.5, 2
# Words that describe rather than name: a prompt may add them to a caption's words ("a fluffy sheep").
_DESCRIBING_WORDS = """
a an the of with and or in on at for to from by its his her their my your our some one two three
big small little tiny huge giant large cute happy sad angry old young new shiny fluffy fat round tall short
long pretty beautiful scary spooky cool funny friendly wild simple tasty delicious fresh ripe juicy sweet
dark bright pale glowing sparkly magic magical fancy cartoon pixel art sprite icon
drawing picture cheerful smiling flying running sitting standing swimming sleeping wooden metal shiny
single lonely lovely nice great good bad evil mean strong fast slow heavy soft hard wet dry
sleepy grumpy hungry curious playful lazy proud brave fierce wise silly goofy shy calm majestic
roaring barking howling buzzing growling purring chirping singing dancing jumping hopping crawling
bushy furry fuzzy spiky rusty dusty broken cracked sparkling crackling decorated
cozy muddy dirty messy slimy scaly hairy cuddly chubby plump skinny adorable colorful colourful striped spotted
leather stone golden silver plastic ancient mini enormous
"""
DESCRIBING = frozenset(_DESCRIBING_WORDS.split())
# Caption heads that name the picture's framing, not the thing: "a lion face" is a lion.
FRAMING = frozenset({"face", "head", "emoji", "icon", "symbol"})
# "a cup of tea", "a slice of pizza": the thing is after "of", the container before it.
_OF = re.compile(r"\bof\b")
# Words that name what serves food or drink: after the thing, they name its container ("an ice
# cream cone", "a coffee cup"), which the matcher reads as "a cone of ice cream" when it finds
# nothing else, and takes only the thing, only food or drink (`FOOD_GROUP`): "a dog bowl" is no dog.
SERVINGS = frozenset({"bar", "bottle", "bowl", "can", "cone", "cup", "glass", "mug", "plate", "slice"})
FOOD_GROUP = "food and drink"  # the emoji group a concept's long caption ends with
# "a fire-breathing dragon", "a long-eared rabbit": a hyphenated word ending in a participle describes.
_DESCRIBING_COMPOUND = re.compile(r"\b[a-z]+-[a-z]+(?:ing|ed)\b")


@cache  # a few thousand distinct words, each met many times loading the library
def _singular(word: str) -> str:
    """Return ``word`` without a plural ending ("grapes" -> "grape", "boxes" -> "box"), roughly."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _words(text: str) -> list[str]:
    return [_singular(w) for w in re.findall(r"[a-z]+", text.lower())]


def phrase_nouns(text: str) -> tuple[str | None, set[str], set[str]]:
    """Return (head noun, other naming words, container words) of a short noun phrase.

    "a big wizard hat" -> ("hat", {"wizard"}, set()); "a glass of juice" -> ("juice", set(), {"glass"});
    "a bowl with spoon" -> ("bowl", set(), set()). Heuristic: the head is the last word before
    "with"/"in"/"on", after "of" when there is one; describing words (`DESCRIBING`) are not naming.
    """
    text = _DESCRIBING_COMPOUND.sub(" ", text.lower())
    main = re.split(r"\b(?:with|in|on|at|holding|wearing|and)\b", text.split(",")[0])[0]
    if not _words(main):  # "and" first ("bow and arrow" keeps "bow")
        main = text.split(",")[0]
    container = set()
    if _OF.search(main):
        before, after = _OF.split(main, maxsplit=1)
        if _words(after):
            container, main = set(_words(before)) - DESCRIBING, after
    words = _words(main)
    naming = [w for w in words if w not in DESCRIBING]
    if not naming:  # "a stone", "a silver": the word names the thing here
        return (words[-1], set(), container) if words else (None, set(), container)
    return naming[-1], set(naming[:-1]), container


def serving_phrase(text: str) -> str | None:
    """Return ``text`` with a last word that serves food or drink (`SERVINGS`) put first as the
    thing's container ("an ice cream cone" -> "a cone of ice cream"), or None where it has none."""
    words = _words(text.split(",")[0])
    if words and words[0] in ("a", "an", "the"):
        words = words[1:]
    if len(words) < 2 or _singular(words[-1]) not in SERVINGS or _OF.search(" ".join(words)):
        return None
    return f"a {words[-1]} of {' '.join(words[:-1])}"


def plain_phrase(text: str) -> str:
    """Return ``text`` without its describing words, as "a ..." ("a rusty old robot" -> "a robot"),
    or ``text`` itself when that would leave nothing."""
    words = [w for w in re.findall(r"[a-z]+", _DESCRIBING_COMPOUND.sub(" ", text.lower())) if w not in DESCRIBING]
    return f"a {' '.join(words)}" if words else text


class SpriteLibrary:
    """Drawings by concept, with caption embeddings to find them by prompt."""

    def __init__(self, pixels: np.ndarray, sprite_concepts: np.ndarray, embeddings: np.ndarray,
                 caption_concepts: np.ndarray, captions: list[str], concepts: list[str] | None = None,
                 tags: dict[int, str] | None = None):  # fmt: skip
        self.pixels = pixels  # (N, 32, 32, 4) uint8
        self.sprite_concepts = sprite_concepts  # (N,) concept index of each drawing
        self.embeddings = embeddings  # (C, D) float32, unit rows
        self.caption_concepts = caption_concepts  # (C,) concept index of each caption
        self.captions = captions
        self.concepts = concepts or [str(i) for i in range(int(caption_concepts.max(initial=-1)) + 1)]
        # Per concept the words of all its captions (tags after commas left out); per caption its
        # head noun and naming words, worked out when a prompt first meets it (`nouns`).
        self._nouns: dict[int, tuple[str | None, set[str], set[str]]] = {}
        self.vocabulary: dict[int, set[str]] = {}
        for caption, concept in zip(captions, caption_concepts.tolist(), strict=True):
            self.vocabulary.setdefault(int(concept), set()).update(_words(caption.split(",")[0]))
        self.known_words = set().union(*self.vocabulary.values())
        # An emoji's keywords (CLDR's: "pine" for the evergreen tree, "diamond" for the ring) let a
        # prompt's naming word fit its concept ("a pine tree", "a diamond ring"), and name the thing
        # of the nearest caption (`_best`). They add no known words: a word that only keywords have
        # may still only describe (`MODIFIER_SIMILARITY`), as before.
        self.keywords: dict[int, set[str]] = {}
        for concept, words in (tags or {}).items():
            self.keywords[int(concept)] = set(_words(words))
            self.vocabulary.setdefault(int(concept), set()).update(self.keywords[int(concept)])
        # A keyword that is a colour in the emoji's own name ("orange" of "orange book") describes it:
        # it does not count as naming it, so "orange" is held by the tangerine alone.
        self.names: dict[int, set[str]] = {}  # the words of each concept's first caption, its emoji's name
        for caption, concept in zip(captions, caption_concepts.tolist(), strict=True):
            self.names.setdefault(int(concept), set(_words(caption.split(",")[0])))
        self.keyword_holders = Counter(word for concept, words in self.keywords.items() for word in words
                                       if not self.colour_of(concept, word))  # fmt: skip
        # Prompts whose nearest caption was refused, with why (the CLI says the model draws them).
        self.refused: dict[str, str] = {}
        # The concepts of the emoji group of food and drink (by their long captions).
        self.food = {int(c) for caption, c in zip(captions, caption_concepts.tolist(), strict=True)
                     if caption.endswith(FOOD_GROUP)}  # fmt: skip
        # Each emoji concept's group, the last part of its long caption ("people and body").
        self.groups = {int(c): caption.rsplit(", ", 1)[1] for caption, c in
                       zip(captions, caption_concepts.tolist(), strict=True) if caption.count(", ") >= 2}  # fmt: skip

    def nouns(self, index: int) -> tuple[str | None, set[str], set[str]]:
        """Return `phrase_nouns` of caption ``index`` (remembered)."""
        if index not in self._nouns:
            self._nouns[index] = phrase_nouns(self.captions[index])
        return self._nouns[index]

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
        concepts = index["concepts"]
        number = {concept: i for i, concept in enumerate(concepts)}
        tags = {number[c]: words for c, words in index.get("tags", {}).items() if c in number}
        return cls(pixels, sprite_concepts, unit, caption_concepts, index["captions"], concepts, tags)

    def find(self, prompt: str, embed, seed: int) -> tuple[np.ndarray, LibraryMatch] | None:
        """Return (RGBA drawing, match) for ``prompt``, or None when nothing is close enough.

        ``embed(texts)`` returns unit sentence embeddings (`text.sentence_embeddings`); ``seed``
        picks one of the concept's drawings.
        """
        colour, subject = named_colour(prompt)
        if not subject:
            return None
        scores = self.embeddings @ np.asarray(embed([subject]), dtype=np.float32)[0]
        best, why = self._best(subject, scores, embed)
        plain = plain_phrase(subject)
        if best is None and why is None and plain != subject:
            # Nothing near, perhaps for the describing words alone ("a rusty robot"): the thing without them.
            scores = self.embeddings @ np.asarray(embed([plain]), dtype=np.float32)[0]
            best, why = self._best(plain, scores, embed)
        if best is None and (served := self._served(subject, embed)):
            (best, scores), why = served, None
        if best is None:
            if why is not None:
                self.refused[prompt] = why
            return None
        concept = int(self.caption_concepts[best])
        drawings = np.flatnonzero(self.sprite_concepts == concept)
        pick = seed % len(drawings)
        sprite = self.pixels[drawings[pick]]
        turned = None
        if colour is not None and not has_colour(sprite, colour):
            sprite, turned = recolour(sprite, colour), colour
        match = LibraryMatch(prompt, self.captions[best], self.concepts[concept], float(scores[best]), pick,
                             len(drawings), turned)  # fmt: skip
        return sprite, match

    def _served(self, subject: str, embed) -> tuple[int, np.ndarray] | None:
        """Return (caption index, scores) of the food or drink ``subject`` serves when read as its
        container of the thing (`serving_phrase`: "an ice cream cone" as "a cone of ice cream"), or None."""
        serving = serving_phrase(subject)
        if serving is None:
            return None
        scores = self.embeddings @ np.asarray(embed([serving]), dtype=np.float32)[0]
        found, _ = self._best(serving, scores, embed)
        # The thing itself, not its container drawn plainly ("a potion bottle" is no champagne).
        if found is None or self.nouns(found)[0] in SERVINGS or int(self.caption_concepts[found]) not in self.food:
            return None
        return found, scores

    def _best(self, subject: str, scores: np.ndarray, embed) -> tuple[int | None, str | None]:
        """Return (index of the best caption that names the thing ``subject`` names, None), or
        (None, why the nearest caption was refused), or (None, None) when no caption is near.

        Captions are tried from the most similar down (all above `MIN_SIMILARITY`): the first whose
        head noun is the prompt's (or is the container of "a glass of wine" -> "a wine glass") and
        whose concept's words hold every other naming word of the prompt; else the bare thing of
        which the prompt names a kind ("a school bus" -> "a bus", `GENERIC_SIMILARITY`). When no
        caption has the prompt's head noun, the most similar one may still name it: among its emoji's
        keywords ("a gift box" -> "gift"), or as a synonym ("a kitten" -> "a cat"), whose head noun
        must be `NOUN_SIMILARITY` close and not a compound of it ("spaceship"/"ship"). When the
        nearest is refused: a drawing whose emoji's keywords name the thing (`_by_keyword`), else the
        container of "a bottle of wine" drawn plainly (`_by_container`).
        """
        head, naming, container = phrase_nouns(subject)
        ranked = np.argsort(-scores, kind="stable")
        order = ranked[scores[ranked] >= MIN_SIMILARITY]
        if head is None:
            return None, None
        if len(order) == 0:
            return self._by_keyword(head, naming, container, scores, ranked), None
        found, why = self._by_caption(subject, head, naming, container, scores, order, embed)
        if found is None and why is not None:
            found = self._by_keyword(head, naming, container, scores, ranked)
        if found is None and why is not None:
            found = self._by_container(container, order)
        return (found, None) if found is not None else (None, why)

    def _by_container(self, container: set[str], order: np.ndarray) -> int | None:
        """Return the most similar caption that is the prompt's container as a bare thing ("a bottle of
        wine" -> "a bottle with popping cork", "a bowl of soup" -> "a bowl with spoon"), or None."""
        if len(container) != 1:
            return None
        for index in order.tolist():
            caption_head, caption_naming, caption_container = self.nouns(index)
            if caption_head in container and not caption_naming and not caption_container:
                return int(index)
        return None

    def _by_keyword(
        self, head: str, naming: set[str], container: set[str], scores: np.ndarray, ranked: np.ndarray
    ) -> int | None:
        """Return the most similar caption (`KEYWORD_SIMILARITY` close) whose emoji has the prompt's
        head noun among its keywords (one of at most `KEYWORD_HOLDERS` such emoji), and the prompt's
        other naming words too ("a pumpkin", "a halloween pumpkin" -> "a jack o lantern"), or None."""
        if container or not 0 < self.keyword_holders[head] <= KEYWORD_HOLDERS:
            return None
        candidates = ranked[scores[ranked] >= KEYWORD_SIMILARITY]
        for index in candidates.tolist():
            caption_head = self.nouns(index)[0]
            keywords = self.keywords.get(int(self.caption_concepts[index]), set())
            if (
                caption_head not in FRAMING
                and not self._scene_with(head, index, candidates)
                and head in keywords
                and (head not in self.nouns(index)[1] or self.coloured(index, head))
                and naming <= keywords
                and not self.colour_of(int(self.caption_concepts[index]), head)
            ):
                return int(index)
        return None

    def coloured(self, index: int, word: str) -> bool:
        """Return True when caption ``index`` says ``word`` as its colour ("orange baby symbol"), not its thing."""
        return word in COLOUR_WORDS and word in self.nouns(index)[1]

    def _scene_with(self, head: str, index: int, order: np.ndarray) -> bool:
        """Return True when a caption among ``order`` is ``head`` drawn plainly ("bike") and is an
        emoji of another group than caption ``index`` ("a mountain bicyclist": people)."""
        if head in FRAMING:  # "a sun face" names the sun, not a face
            return False
        plain = next((i for i in order.tolist() if self.nouns(i) == (head, set(), set())), None)
        if plain is None:
            return False
        groups = [self.groups.get(int(self.caption_concepts[i])) for i in (plain, index)]
        return None not in groups and groups[0] != groups[1]

    def colour_of(self, concept: int, word: str) -> bool:
        """Return True when ``word`` is a colour in the name of ``concept``'s emoji ("orange book")."""
        return word in COLOUR_WORDS and word in self.names.get(concept, set())

    def _by_caption(
        self,
        subject: str,
        head: str,
        naming: set[str],
        container: set[str],
        scores: np.ndarray,
        order: np.ndarray,
        embed,
    ) -> tuple[int | None, str | None]:
        """`_best` among the captions at least `MIN_SIMILARITY` close (``order``, most similar first)."""
        nearest = int(order[0])

        # Naming words some caption has must be this concept's ("a coffee mug" is not a beer mug);
        # words no caption has may only describe ("a roaring lion", not "a wizard hat").
        unknown = naming - self.known_words
        if unknown:
            # Without the words known to describe: "a muddy farm pig" is as near "a pig" as "a farm pig".
            vectors = np.asarray(embed([plain_phrase(subject), f"a {head}"]), dtype=np.float32)
            if float(vectors[0] @ vectors[1]) < MODIFIER_SIMILARITY:
                return None, f"no drawing is a {' '.join(sorted(unknown))} {head}"

        def fits(index: int) -> bool:
            return naming - unknown <= self.vocabulary[int(self.caption_concepts[index])]

        # The most similar caption that is the thing less one of the prompt's naming words: the bare
        # thing ("a bus", "a lion face") or a kind of it ("a birthday cake" for "a chocolate birthday cake").
        generic, extra = None, None
        for index in order.tolist():
            caption_head, caption_naming, caption_container = self.nouns(index)
            framing = caption_head in FRAMING or caption_head in container
            # A framed thing is named by a noun, not a colour: "an orange" is no "orange baby symbol".
            same = caption_head == head or (framing and head in caption_naming and not self.coloured(index, head))
            if same and fits(index):
                return int(index), None
            less = naming - caption_naming
            kind = caption_head == head and caption_naming < naming and len(less) == 1
            bare = caption_head in FRAMING and caption_naming == {head} and len(naming) == 1
            if generic is None and (kind or bare) and not caption_container:
                generic, extra = int(index), next(iter(less if kind else naming))
        if generic is not None and scores[generic] >= GENERIC_SIMILARITY:
            vectors = np.asarray(embed([subject, f"a {extra}"]), dtype=np.float32)
            if scores[generic] - float(vectors[0] @ vectors[1]) >= GENERIC_MARGIN:
                return generic, None
        caption_head, refused = self.nouns(nearest)[0], (None, f"the nearest is {self.captions[nearest]!r}")
        if caption_head is None or not fits(nearest):
            return refused
        # The library draws the thing plainly ("bike") in another emoji group than the nearest
        # ("a mountain bicyclist", people): the nearest is a scene with the thing, not the thing.
        if self._scene_with(head, nearest, order):
            return refused
        # The nearest drawing's own keywords name the prompt's thing: "a gift box" -> "gift" (box,
        # present, wrapped), "a big dinosaur" -> "a t rex". Not a face wearing it ("a cowboy hat"),
        # nor the thing in another container ("a bottle of wine" is no wine glass).
        keywords = self.keywords.get(int(self.caption_concepts[nearest]), set())
        # Nor what names another thing by it ("a pirate flag" is no pirate; "orange tangerine" says a colour).
        if (caption_head not in FRAMING and head in keywords and (not container or caption_head in container)
                and (head not in self.nouns(nearest)[1] or self.coloured(nearest, head))
                and not self.colour_of(int(self.caption_concepts[nearest]), head)):  # fmt: skip
            return nearest, None
        # "eyeglasses" is a kind of "glasses"; "spaceship" is not a "ship", "fencer" not a "fence".
        if caption_head.endswith(head):
            return nearest, None
        if head in caption_head or caption_head in head:
            return refused
        vectors = np.asarray(embed([head, caption_head]), dtype=np.float32)
        similarity = float(vectors[0] @ vectors[1])
        same_naming = naming and naming <= self.nouns(nearest)[1] and scores[nearest] >= SAME_NAMING_SIMILARITY
        if same_naming and similarity >= RELATED_NOUNS:
            return nearest, None
        letters = difflib.SequenceMatcher(None, head, caption_head).ratio()
        if similarity >= NOUN_SIMILARITY or (similarity >= VARIANT_SIMILARITY and letters >= VARIANT_LETTERS):
            return nearest, None
        return refused


@cache
def bundled_library() -> SpriteLibrary | None:
    """Return the library shipped with the bundled model (loaded once), or None."""
    return SpriteLibrary.load()
