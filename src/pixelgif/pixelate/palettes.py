"""Built-in retro palettes and palette file parsers (.gpl, .hex, .pal, PNG swatch).

``load_palette`` accepts a built-in name, a file path or a Kx3 array and returns a Kx3 uint8
array of distinct colours in file order; every problem raises ValueError naming the file and line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

_BUILTIN_HEX = {
    "pico-8": "000000 1d2b53 7e2553 008751 ab5236 5f574f c2c3c7 fff1e8 ff004d ffa300 ffec27 00e436 "
    "29adff 83769c ff77a8 ffccaa",
    "gameboy": "0f380f 306230 8bac0f 9bbc0f",
    "nes": "7c7c7c 0000fc 0000bc 4428bc 940084 a80020 a81000 881400 503000 007800 006800 005800 004058 "
    "000000 bcbcbc 0078f8 0058f8 6844fc d800cc e40058 f83800 e45c10 ac7c00 00b800 00a800 00a844 008888 "
    "f8f8f8 3cbcfc 6888fc 9878f8 f878f8 f85898 f87858 fca044 f8b800 b8f818 58d854 58f898 00e8d8 787878 "
    "fcfcfc a4e4fc b8b8f8 d8b8f8 f8b8f8 f8a4c0 f0d0b0 fce0a8 f8d878 d8f878 b8f8b8 b8f8d8 00fcfc f8d8f8",
    "cga": "000000 0000aa 00aa00 00aaaa aa0000 aa00aa aa5500 aaaaaa 555555 5555ff 55ff55 55ffff ff5555 "
    "ff55ff ffff55 ffffff",
    "c64": "000000 626262 898989 adadad ffffff 9f4e44 cb7e75 6d5412 a1683c c9d487 9ae29b 5cab5e 6abfc6 "
    "887ecb 50459b a057a3",
    "endesga-32": "be4a2f d77643 ead4aa e4a672 b86f50 733e39 3e2731 a22633 e43b44 f77622 feae34 fee761 "
    "63c74d 3e8948 265c42 193c3e 124e89 0099db 2ce8f5 ffffff c0cbdc 8b9bb4 5a6988 3a4466 262b44 181425 "
    "ff0044 68386c b55088 f6757a e8b796 c28569",
    "sweetie-16": "1a1c2c 5d275d b13e53 ef7d57 ffcd75 a7f070 38b764 257179 29366f 3b5dc9 41a6f6 73eff7 "
    "f4f4f4 94b0c2 566c86 333c57",
    "aap-64": "060608 141013 3b1725 73172d b4202a df3e23 fa6a0a f9a31b ffd541 fffc40 d6f264 9cdb43 59c135 "
    "14a02e 1a7a3e 24523b 122020 143464 285cc4 249fde 20d6c7 a6fcdb ffffff fef3c0 fad6b8 f5a097 e86a73 "
    "bc4a9b 793a80 403353 242234 221c1a 322b28 71413b bb7547 dba463 f4d29c dae0ea b3b9d1 8b93af 6d758d "
    "4a5462 333941 422433 5b3138 8e5252 ba756a e9b5a3 e3e6ff b9bffb 849be4 588dbe 477d85 23674e 328464 "
    "5daf8d 92dcba cdf7e2 e4d2aa c7b08b a08662 796755 5a4e44 423934",
    "1-bit": "000000 ffffff",
}
_ALIASES = {
    "pico8": "pico-8",
    "gb": "gameboy",
    "dmg": "gameboy",
    "gameboydmg": "gameboy",
    "endesga32": "endesga-32",
    "sweetie16": "sweetie-16",
    "aap64": "aap-64",
    "1bit": "1-bit",
    "commodore64": "c64",
}
PALETTE_SUFFIXES = (".gpl", ".hex", ".pal", ".png")
MAX_COLORS = 256


def builtin_names() -> list[str]:
    """Return the names of the built-in palettes."""
    return list(_BUILTIN_HEX)


def builtin_palette(name: str) -> np.ndarray:
    """Return a built-in palette by name (case, spaces and dashes ignored); ValueError lists the names."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    canonical = {re.sub(r"[^a-z0-9]", "", n): n for n in _BUILTIN_HEX}
    resolved = canonical.get(key) or _ALIASES.get(key)
    if resolved is None:
        raise ValueError(
            f"unknown palette {name!r}; built-in palettes: {', '.join(_BUILTIN_HEX)} "
            f"(or give a {'/'.join(PALETTE_SUFFIXES)} file)"
        )
    return _hex_colors(_BUILTIN_HEX[resolved].split())


def _hex_colors(codes: list[str]) -> np.ndarray:
    return _distinct([tuple(int(code[i : i + 2], 16) for i in (0, 2, 4)) for code in codes])


def _distinct(colors) -> np.ndarray:
    """Return colours as a Kx3 uint8 array with repeats removed (first occurrence kept)."""
    seen = dict.fromkeys(tuple(int(v) for v in color) for color in colors)
    return np.array(list(seen), dtype=np.uint8).reshape(-1, 3)


def _bad_line(path: Path, number: int, line: str, expected: str) -> ValueError:
    return ValueError(f"{path}: line {number}: cannot read {line.strip()!r} (expected {expected})")


def _rgb_triplet(path: Path, number: int, line: str, expected: str) -> tuple[int, int, int]:
    parts = line.split()
    try:
        rgb = tuple(int(part) for part in parts[:3])
    except ValueError:
        raise _bad_line(path, number, line, expected) from None
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise _bad_line(path, number, line, expected)
    return rgb


def parse_gpl(path: Path, text: str) -> np.ndarray:
    """Return the colours of a GIMP palette (.gpl): 'GIMP Palette' header, then 'R G B name' lines."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "GIMP Palette":
        raise ValueError(f"{path}: line 1: not a GIMP palette (the first line must be 'GIMP Palette')")
    colors = []
    for number, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or re.match(r"^(Name|Columns)\s*:", stripped):
            continue
        colors.append(_rgb_triplet(path, number, line, "'R G B name' with values 0-255"))
    return _finish(path, colors)


def parse_hex(path: Path, text: str) -> np.ndarray:
    """Return the colours of a Lospec .hex file: one RRGGBB code per line."""
    colors = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith((";", "//")):
            continue
        if not re.fullmatch(r"#?[0-9a-fA-F]{6}", stripped):
            raise _bad_line(path, number, line, "a 6-digit hex colour such as ff8800")
        colors.append(tuple(int(stripped.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)))
    return _finish(path, colors)


def parse_jasc_pal(path: Path, text: str) -> np.ndarray:
    """Return the colours of a JASC palette (.pal): 'JASC-PAL', '0100', count, then 'R G B' lines."""
    lines = text.splitlines()
    if len(lines) < 3 or lines[0].strip() != "JASC-PAL":
        raise ValueError(f"{path}: line 1: not a JASC palette (expected 'JASC-PAL', '0100' and a colour count)")
    if not lines[2].strip().isdigit():
        raise _bad_line(path, 3, lines[2], "the number of colours")
    count = int(lines[2])
    colors = []
    for number, line in enumerate(lines[3:], start=4):
        if line.strip():
            colors.append(_rgb_triplet(path, number, line, "'R G B' with values 0-255"))
    if len(colors) != count:
        raise ValueError(f"{path}: line 3: says {count} colours but the file has {len(colors)}")
    return _finish(path, colors)


def parse_png_swatch(path: Path) -> np.ndarray:
    """Return the distinct opaque colours of a PNG swatch in reading order."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgba = np.asarray(image.convert("RGBA")).reshape(-1, 4)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path}: not a readable PNG swatch ({exc})") from None
    rgb = rgba[rgba[:, 3] > 0, :3]
    _, first = np.unique(rgb, axis=0, return_index=True)
    if len(first) > MAX_COLORS:
        raise ValueError(f"{path}: a palette swatch may have at most {MAX_COLORS} colours, this one has {len(first)}")
    return _finish(path, rgb[np.sort(first)])


def _finish(path: Path, colors) -> np.ndarray:
    palette = _distinct(colors)
    if len(palette) == 0:
        raise ValueError(f"{path}: the palette has no colours")
    if len(palette) > MAX_COLORS:
        raise ValueError(f"{path}: a palette may have at most {MAX_COLORS} colours, this one has {len(palette)}")
    return palette


def load_palette_file(path: str | os.PathLike) -> np.ndarray:
    """Return the colours of a .gpl, .hex, .pal or .png palette file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in PALETTE_SUFFIXES:
        raise ValueError(f"{path}: unknown palette file type; use {', '.join(PALETTE_SUFFIXES)}")
    if not path.is_file():
        raise ValueError(f"palette file not found: {path}")
    if suffix == ".png":
        return parse_png_swatch(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text palette file") from None
    parser = {".gpl": parse_gpl, ".hex": parse_hex, ".pal": parse_jasc_pal}[suffix]
    return parser(path, text)


def load_palette(spec) -> np.ndarray:
    """Return a Kx3 uint8 palette from a built-in name, a palette file path or an array of colours."""
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if Path(text).suffix.lower() in PALETTE_SUFFIXES or os.sep in text or Path(text).is_file():
            return load_palette_file(text)
        return builtin_palette(text)
    array = np.asarray(spec)
    if array.ndim != 2 or array.shape[1] != 3 or len(array) == 0:
        raise ValueError(f"a palette array must be Kx3 (K >= 1), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() > 255:
        raise ValueError("palette array values must be integers from 0 to 255")
    if len(array) > MAX_COLORS:
        raise ValueError(f"a palette may have at most {MAX_COLORS} colours, got {len(array)}")
    return _distinct(array)
