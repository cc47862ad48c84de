"""Extra art for the bundled model's data set (v2): more drawings per emoji concept.

Iconify JSON emoji sets from npm (SVG bodies keyed by icon name) are mapped to emoji.json code
points so that every drawing of a concept shares the emoji's captions; Kenney's CC0 game sprites
come from the PyPI ``arcade`` wheel, captioned from their file names. Every source records its
package, pinned version and licence, and is refused if the package's own files say otherwise.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .data import SKIPPED_CATEGORIES, SKIPPED_SUBCATEGORIES, Sprite, captions_for, to_sprite


@dataclass(frozen=True)
class ArtSource:
    """One art source: where it comes from, under which licence, and who to credit."""

    key: str
    package: str  # npm package, or "pypi:<name>" for a wheel
    version: str  # pinned: the data set is reproducible
    licence: str  # SPDX identifier, as the package's own files state it
    credit: str
    kind: str = "iconify"


ICONIFY_SOURCES = {
    s.key: s
    for s in (
        ArtSource(
            "fluent-emoji-flat", "@iconify-json/fluent-emoji-flat", "1.2.6", "MIT", "Microsoft Fluent Emoji (flat)"
        ),
        ArtSource("fxemoji", "@iconify-json/fxemoji", "1.2.2", "Apache-2.0", "Mozilla Firefox OS Emoji"),
        ArtSource("noto-v1", "@iconify-json/noto-v1", "1.2.5", "Apache-2.0", "Google Noto Emoji (v1)"),
        # Emoji One 2.x (via the EmojiTwo fork) is CC BY 4.0; Emoji One 3+/JoyPixels is not free.
        ArtSource("emojione", "@iconify-json/emojione", "1.2.3", "CC-BY-4.0", "Emoji One 2 (EmojiTwo)"),
        ArtSource("streamline-emojis", "@iconify-json/streamline-emojis", "1.2.4", "CC-BY-4.0", "Streamline Emojis"),
    )
}
KENNEY = ArtSource("kenney", "pypi:arcade", "3.3.3", "CC0-1.0", "Kenney (kenney.nl), via Python Arcade", "kenney")
ALL_SOURCES = {**ICONIFY_SOURCES, KENNEY.key: KENNEY}
# Never used, whatever --sources says: share-alike, non-commercial or no-reuse licences.
EXCLUDED = {
    "@iconify-json/openmoji": "CC-BY-SA-4.0: share-alike would bind the model weights",
    "emoji-datasource-apple": "Apple's emoji art: no licence to reuse",
    "emoji-datasource-facebook": "Facebook's emoji art: no licence to reuse",
    "joypixels / emojione 3+": "JoyPixels licence: no free commercial reuse",
}
# Licence strings that must never enter the data set, whatever a source says it is.
FORBIDDEN_LICENCE = re.compile(r"-SA|-NC|-ND|proprietary|unlicensed", re.IGNORECASE)
ICONIFY_SKIPPED_CATEGORIES = {"Flags", "Component", "Modifiers", "Symbols & Flags"}
SKIN_TONE = re.compile(r"skin-tone|-tone\d?$|tone[1-5]$|1f3f[b-f]", re.IGNORECASE)
CODE_IN_NAME = re.compile(r"^(?:emoji-)?u?([0-9a-f]{4,6}(?:[-_][0-9a-f]{4,6})*)$", re.IGNORECASE)
# Fluent's skin-tone variants are named '<emoji>-light' ... '<emoji>-dark'.
TONE_SUFFIX = re.compile(r"-(light|medium-light|medium|medium-dark|dark)$")
# Words that alone (or after the first word) caption nothing drawable: 'left', 'cat side'.
VAGUE_WORDS = {
    "high",
    "low",
    "left",
    "right",
    "up",
    "down",
    "index",
    "neutral",
    "hands",
    "note",
    "page",
    "side",
    "blonde",
    "front",
    "back",
    "on",
    "off",
    "am",
}
SVG_SIZE = 96  # rasterised well above 32 px so the pixel-art engine sees clean shapes


class LicenceError(RuntimeError):
    """A package's own files state a licence other than the one recorded for it."""


def compact(name: str) -> str:
    """Return ``name`` lower-cased with everything but letters and digits removed (a match key)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def code_key(code: str) -> str:
    """Return an emoji code point sequence normalised for matching: upper case, dashes, no FE0F."""
    parts = re.split(r"[-_ ]", code.upper())
    return "-".join(p.lstrip("0") or "0" for p in parts if p and p != "FE0F")


def check_licence(source: ArtSource, package_root: Path) -> str:
    """Return the licence the package's own files state; raise LicenceError if it is not the recorded one."""
    if source.kind == "iconify":
        info = json.loads((package_root / "info.json").read_text())
        package = json.loads((package_root / "package.json").read_text())
        stated = {(info.get("license") or {}).get("spdx"), package.get("license")}
    else:
        stated = {"CC0-1.0"} if "CC0" in package_root.read_text() else {package_root.read_text()[:80]}
    if stated != {source.licence} or FORBIDDEN_LICENCE.search(source.licence):
        raise LicenceError(f"{source.package}: files say {sorted(map(str, stated))}, recorded {source.licence}")
    return source.licence


class NameIndex:
    """Emoji.json entries by code point and by name, for mapping icon names to emoji concepts."""

    def __init__(self, entries: list[dict], chars: dict[str, str] | None = None):
        self.by_code: dict[str, dict] = {}
        self.by_name: dict[str, dict] = {}
        for entry in entries:
            for code in (entry.get("unified"), entry.get("non_qualified")):
                if code:
                    self.by_code.setdefault(code_key(code), entry)
            for name in [entry.get("name") or "", *(entry.get("short_names") or [])]:
                if name:
                    self.by_name.setdefault(compact(name), entry)
        # Iconify ``chars`` maps (code point -> icon name) give the CLDR names the sets share.
        for code, name in (chars or {}).items():
            found = self.by_code.get(code_key(code))
            if found is not None:
                self.by_name.setdefault(compact(name), found)
        names = [n for e in entries for n in [e.get("name") or "", *(e.get("short_names") or [])]]
        self.vocabulary = {
            w for n in [*names, *(chars or {}).values()] for w in re.split(r"[^a-z]+", n.lower()) if len(w) > 1
        }

    def lookup(self, name: str) -> dict | None:
        """Return the emoji.json entry an icon name stands for, or None."""
        match = CODE_IN_NAME.match(name)
        if match and (entry := self.by_code.get(code_key(match.group(1)))):
            return entry
        # Numbered variants ("cactus-2") are more drawings of the same thing.
        return self.by_name.get(compact(name)) or self.by_name.get(compact(re.sub(r"[-_]?\d+$", "", name)))

    def clean_phrase(self, name: str) -> str | None:
        """Return a caption phrase for an unmapped icon name, or None unless every word is a known word.

        Run-together names ("admissiontickets") are split into known words first.
        """
        words = []
        for token in re.split(r"[^a-z]+", name.lower()):
            if token:
                split = self._segment(token)
                if split is None:
                    return None
                words += split
        if len(words) == 1 and (words[0] in VAGUE_WORDS or words[0].endswith("ing")):
            return None
        return " ".join(words) if 0 < len(words) <= 4 and not VAGUE_WORDS & set(words[1:]) else None

    def _segment(self, token: str) -> list[str] | None:
        best: list[list[str] | None] = [[]] + [None] * len(token)
        for end in range(1, len(token) + 1):
            for start in range(max(0, end - 20), end):
                word, prefix, current = token[start:end], best[start], best[end]
                # Short pieces ("cl", "am") make nonsense captions: split into words of 3+ letters.
                if (
                    prefix is not None
                    and word in self.vocabulary
                    and (len(word) > 2 or word == token)
                    and (current is None or len(prefix) + 1 < len(current))
                ):
                    best[end] = [*prefix, word]
        return best[-1]


def load_chars(npm_root: Path) -> dict[str, str]:
    """Return the merged ``chars.json`` maps (code point -> icon name) of the iconify sets installed."""
    chars = {}
    for source in ICONIFY_SOURCES.values():
        path = npm_root / source.package / "chars.json"
        if path.is_file():
            chars.update(json.loads(path.read_text()))
    return chars


def rasterise_svg(svg: str, size: int = SVG_SIZE) -> Image.Image:
    """Return the SVG drawn as a ``size`` x ``size`` RGBA image (resvg: no system libraries needed)."""
    import resvg_py

    png = resvg_py.svg_to_bytes(svg_string=svg, width=size, height=size, skip_system_fonts=True)
    return Image.open(io.BytesIO(bytes(png))).convert("RGBA")


def iconify_svgs(package_root: Path) -> list[tuple[str, list[str], str]]:
    """Return ``(icon name, its alias names, SVG text)`` for each drawable icon of an iconify set."""
    data = json.loads((package_root / "icons.json").read_text())
    metadata_path = package_root / "metadata.json"
    categories = json.loads(metadata_path.read_text()).get("categories", {}) if metadata_path.is_file() else {}
    skipped = {n for c, names in categories.items() if c in ICONIFY_SKIPPED_CATEGORIES for n in names}
    aliases: dict[str, list[str]] = {}
    for alias, spec in (data.get("aliases") or {}).items():
        # Aliases that flip or rotate their parent draw something else; plain ones are just names.
        if set(spec) <= {"parent"}:
            aliases.setdefault(spec["parent"], []).append(alias)
    out = []
    for name, icon in data["icons"].items():
        if icon.get("hidden") or name in skipped or SKIN_TONE.search(name) or TONE_SUFFIX.search(name):
            continue
        box = [icon.get(k, data.get(k, d)) for k, d in (("left", 0), ("top", 0), ("width", 16), ("height", 16))]
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="{" ".join(map(str, box))}">{icon["body"]}</svg>'
        )
        out.append((name, aliases.get(name, []), svg))
    return out


def skipped_entry(entry: dict) -> bool:
    """Return True for emoji the data set leaves out (flags, skin-tone swatches)."""
    return entry.get("category") in SKIPPED_CATEGORIES or entry.get("subcategory") in SKIPPED_SUBCATEGORIES


def phrase_captions(phrase: str) -> list[str]:
    """Return captions for a plain phrase such as 'blue gem'."""
    article = ("an " if phrase[:1] in "aeiou" else "a ") + phrase
    return [phrase, article, f"pixel art of {article}"]


def iconify_jobs(source: ArtSource, npm_root: Path, index: NameIndex) -> list[tuple]:
    """Return ``(source key, concept, captions, svg)`` jobs for one installed iconify set ([] if absent)."""
    root = npm_root / source.package
    if not (root / "icons.json").is_file():
        return []
    check_licence(source, root)
    jobs = []
    for name, aliases, svg in iconify_svgs(root):
        entry = next((e for n in [name, *aliases] if (e := index.lookup(n))), None)
        if entry is not None:
            if not skipped_entry(entry) and (captions := captions_for(entry)):
                jobs.append((source.key, entry["unified"], captions, svg))
        elif "flag" not in name and (phrase := index.clean_phrase(name)):
            # No emoji for it: a concept of its own, shared by same-named icons of other sets.
            jobs.append((source.key, "name:" + phrase.replace(" ", "-"), phrase_captions(phrase), svg))
    return jobs


# --- Kenney sprites from the arcade wheel ------------------------------------------------------------
KENNEY_IMAGES = "arcade/resources/assets/images/"
# Only folders of Kenney's art (the wheel's images/License.txt: CC0); cybercity_background and
# miami_synth_parallax are other artists' under other terms, cards/backgrounds/... are not objects.
KENNEY_FOLDERS = ("alien", "animated_characters", "enemies", "items", "space_shooter", "tiles", "topdown_tanks")
KENNEY_SKIP = {
    "outline",
    "test",
    "ll",
    "lr",
    "ul",
    "ur",
    "left",
    "right",
    "mid",
    "center",
    "half",
    "corner",
    "cliff",
    "hill",
    "alt",
    "climb",
    "fall",
    "jump",
    "walk",
    "move",
    "pressed",
    "barrel",
    "road",
    "transition",
    "tile",
    "tracks",
    "top",
    "high",
    "low",
    "rounded",
    "round",
    "double",
    "single",
    "texture",
    "ladder",
    "dead",
    "closed",
    "off",
    "sprout",
    "laser",
    "down",
    "life",
}
KENNEY_DROP = {"idle", "front", "body", "player", "a", "b"}
KENNEY_RENAME = {
    "ship": "spaceship",
    "box crate": "crate",
    "sign exit": "exit sign",
    "gold": "gold nugget",
    "tank large": "large tank",
    "snow pile": "snow pile",
}
KENNEY_SIZES = {"big", "medium", "small", "tiny", "large", "huge"}
KENNEY_WORDS = {"med": "medium"}
KENNEY_BLOCKS = {"dirt", "grass", "sand", "snow", "stone", "planet", "lava", "water", "brick"}
COLOUR_TOKENS = {
    "red",
    "blue",
    "green",
    "yellow",
    "orange",
    "purple",
    "pink",
    "brown",
    "grey",
    "gray",
    "white",
    "dark",
    "sand",
    "gold",
    "silver",
    "bronze",
}


def kenney_phrase(stem: str) -> str | None:
    """Return a caption phrase from a Kenney file name ('gemBlue' -> 'blue gem'), or None to skip it."""
    tokens = [t.lower() for t in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", stem)]
    if not tokens or KENNEY_SKIP & set(tokens):
        return None
    tokens = [t for t in tokens if t not in KENNEY_DROP]
    tokens = [KENNEY_WORDS.get(t, t) for t in tokens]
    colours = [t for t in tokens[1:] if t in COLOUR_TOKENS or t in KENNEY_SIZES]
    colours.sort(key=lambda t: t not in KENNEY_SIZES)  # 'big grey meteor', not 'grey big meteor'
    nouns = [t for t in tokens if t not in colours]
    phrase = " ".join(nouns)
    phrase = KENNEY_RENAME.get(phrase, phrase)
    if phrase in KENNEY_BLOCKS:
        phrase += " block"
    return " ".join([*colours, phrase]) if phrase else None


def square(image: Image.Image) -> Image.Image:
    """Return ``image`` centred on a transparent square canvas, so pixelating keeps its proportions."""
    image = image.convert("RGBA")
    side = max(image.size)
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    # The pixel-art engine needs at least 32 px: small sprites are enlarged, pixels kept sharp.
    factor = -(-64 // side)
    return canvas.resize((side * factor, side * factor), Image.Resampling.NEAREST) if factor > 1 else canvas


def kenney_jobs(arcade: Path, index: NameIndex) -> list[tuple]:
    """Return ``(source key, concept, captions, PNG bytes)`` jobs from the arcade wheel (or unpacked folder)."""
    files = {}
    if arcade.is_file():
        with zipfile.ZipFile(arcade) as wheel:
            licence = wheel.read(KENNEY_IMAGES + "License.txt").decode()
            files = {n: wheel.read(n) for n in wheel.namelist() if n.startswith(KENNEY_IMAGES) and n.endswith(".png")}
    else:
        licence = (arcade / KENNEY_IMAGES / "License.txt").read_text()
        files = {p.relative_to(arcade).as_posix(): p.read_bytes() for p in (arcade / KENNEY_IMAGES).rglob("*.png")}
    if "CC0" not in licence:
        raise LicenceError(f"{arcade}: images/License.txt does not say CC0")
    jobs = []
    for name, data in sorted(files.items()):
        folder = name[len(KENNEY_IMAGES) :].split("/")[0]
        phrase = kenney_phrase(Path(name).stem) if folder in KENNEY_FOLDERS else None
        if phrase:
            # The concept is the emoji the object's noun names (gem, key, coin...) when there is one.
            entry = index.lookup(phrase.split()[-1]) or index.lookup(phrase)
            concept = entry["unified"] if entry else "name:" + phrase.replace(" ", "-")
            jobs.append((KENNEY.key, concept, phrase_captions(phrase), data))
    return jobs


def load_extra_sprites(
    npm_root: Path, entries: list[dict], sources: list[str], arcade: Path | None = None, progress: bool = True
) -> list[Sprite]:
    """Return pixelated sprites from the chosen extra sources (keys of ``ALL_SOURCES``) that are installed."""
    from tqdm import tqdm

    unknown = set(sources) - set(ALL_SOURCES)
    if unknown:
        raise ValueError(f"unknown sources {sorted(unknown)}; choose from {', '.join(ALL_SOURCES)}")
    index = NameIndex(entries, load_chars(npm_root))
    jobs = [
        job for key in sources if key in ICONIFY_SOURCES for job in iconify_jobs(ICONIFY_SOURCES[key], npm_root, index)
    ]
    if KENNEY.key in sources and arcade is not None:
        jobs += kenney_jobs(arcade, index)
    sprites = []
    for key, concept, captions, art in tqdm(jobs, desc="pixelating extra art", disable=not progress):
        image = rasterise_svg(art) if isinstance(art, str) else square(Image.open(io.BytesIO(art)))
        sprite = to_sprite(image)
        if (sprite[..., 3] > 0).sum() >= 16:  # an empty or all-but-empty drawing teaches nothing
            sprites.append(Sprite(sprite, list(captions), concept, ALL_SOURCES[key].package))
    return sprites
