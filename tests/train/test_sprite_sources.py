"""Data v2's extra art sources, on tiny iconify packages and an arcade-like wheel the tests write."""

import json
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pixelgif.train.bundled import build, sprite_sources
from pixelgif.train.bundled import data as emoji_data
from pixelgif.train.bundled.sprite_sources import ICONIFY_SOURCES, KENNEY, LicenceError, NameIndex

APPLE = {
    "name": "RED APPLE",
    "unified": "1F34E",
    "image": "1f34e.png",
    "category": "Food & Drink",
    "subcategory": "food-fruit",
    "short_names": ["apple"],
}
HEART = {
    "name": "HEAVY BLACK HEART",
    "unified": "2764-FE0F",
    "non_qualified": "2764",
    "image": "2764-fe0f.png",
    "category": "Smileys & Emotion",
    "subcategory": "heart",
    "short_names": ["heart"],
}
FLAG = {
    "name": "FLAG OF EGYPT",
    "unified": "1F1EA-1F1EC",
    "image": "x.png",
    "category": "Flags",
    "subcategory": "country-flag",
    "short_names": ["flag-eg"],
}
BALLOON = {
    "name": "BALLOON",
    "unified": "1F388",
    "image": "1f388.png",
    "category": "Activities",
    "subcategory": "event",
    "short_names": ["balloon"],
}
ENTRIES = [APPLE, HEART, FLAG, BALLOON]


def _circle(fill):
    return f'<circle cx="8" cy="8" r="7" fill="{fill}"/>'


def write_iconify(root, source, icons, licence=None, chars=None, aliases=None, categories=None):
    """Write a fake @iconify-json package for ``source`` (icon name -> SVG body); return its folder."""
    folder = root / source.package
    folder.mkdir(parents=True)
    spdx = licence or source.licence
    (folder / "icons.json").write_text(
        json.dumps(
            {
                "prefix": source.key,
                "width": 16,
                "height": 16,
                "icons": {name: {"body": body} for name, body in icons.items()},
                "aliases": aliases or {},
            }
        )
    )
    (folder / "info.json").write_text(json.dumps({"name": source.key, "license": {"spdx": spdx}}))
    (folder / "package.json").write_text(json.dumps({"name": source.package, "license": spdx}))
    (folder / "chars.json").write_text(json.dumps(chars or {}))
    (folder / "metadata.json").write_text(json.dumps({"categories": categories or {}}))
    return folder


@pytest.fixture()
def npm_root(tmp_path):
    pytest.importorskip("resvg_py")
    root = tmp_path / "node_modules"
    (root / "emoji-datasource-twitter").mkdir(parents=True)
    (root / "emoji-datasource-twitter" / "emoji.json").write_text(json.dumps(ENTRIES))
    # Fluent-like: CLDR names, a chars map, a skin-tone variant, a flag.
    write_iconify(
        root,
        ICONIFY_SOURCES["fluent-emoji-flat"],
        {
            "red-apple": _circle("#e02020"),
            "red-heart": _circle("#d01030"),
            "red-heart-dark": _circle("#501010"),
            "flag-egypt": _circle("#000"),
        },
        chars={"2764": "red-heart"},
        categories={"Flags": ["flag-egypt"]},
    )
    # fxemoji-like: run-together names, one unknown word.
    write_iconify(
        root,
        ICONIFY_SOURCES["fxemoji"],
        {
            "redapple": _circle("#ff3030"),
            "balloon": _circle("#ff2020"),
            "bluecar": _circle("#2040ff"),
            "zorblax": _circle("#00ff00"),
        },
    )
    # Code point names, an alias.
    write_iconify(
        root,
        ICONIFY_SOURCES["noto-v1"],
        {"emoji-u1f34e": _circle("#c00")},
        aliases={"apple-alias": {"parent": "emoji-u1f34e"}},
    )
    return root


def test_every_source_records_package_version_and_a_permissive_licence():
    for source in sprite_sources.ALL_SOURCES.values():
        assert source.package and source.version.count(".") == 2 and source.credit
        assert source.licence in {"MIT", "Apache-2.0", "CC-BY-4.0", "CC0-1.0"}
    assert "@iconify-json/openmoji" in sprite_sources.EXCLUDED
    assert not {s.package for s in sprite_sources.ALL_SOURCES.values()} & set(sprite_sources.EXCLUDED)


def test_notice_names_every_source():
    from pathlib import Path

    notice = (Path(__file__).parents[2] / "NOTICE").read_text()
    for source in sprite_sources.ALL_SOURCES.values():
        assert source.package.removeprefix("pypi:") in notice and source.version in notice


def test_a_package_whose_files_state_another_licence_is_refused(tmp_path):
    source = ICONIFY_SOURCES["emojione"]
    folder = write_iconify(tmp_path, source, {"red-apple": _circle("red")}, licence="CC-BY-SA-4.0")
    with pytest.raises(LicenceError, match=r"CC-BY-SA-4\.0"):
        sprite_sources.check_licence(source, folder)
    with pytest.raises(LicenceError):
        sprite_sources.iconify_jobs(source, tmp_path, NameIndex(ENTRIES))


def test_icon_names_map_to_emoji_concepts():
    index = NameIndex(ENTRIES, {"2764": "red-heart"})
    assert index.lookup("red-apple")["unified"] == "1F34E"
    assert index.lookup("redapple")["unified"] == "1F34E"
    assert index.lookup("emoji-u1f34e")["unified"] == "1F34E"
    assert index.lookup("2764-fe0f")["unified"] == "2764-FE0F"
    assert index.lookup("red-heart")["unified"] == "2764-FE0F"  # via the chars map
    assert index.lookup("apple-2")["unified"] == "1F34E"  # numbered variant
    assert index.lookup("zorblax") is None
    assert index.clean_phrase("bluecar") is None  # 'blue' and 'car' are not emoji.json words here
    assert NameIndex([*ENTRIES, {"name": "BLUE CAR", "unified": "1F699"}]).clean_phrase("redcar") == "red car"


def test_extra_sprites_share_the_emoji_captions_and_skip_flags_and_skin_tones(npm_root):
    sprites = sprite_sources.load_extra_sprites(
        npm_root, ENTRIES, ["fluent-emoji-flat", "fxemoji", "noto-v1"], progress=False
    )
    concepts = sorted(s.concept for s in sprites)
    # apple x3 (fluent, fxemoji, noto + its alias is not a second drawing), heart, balloon; no flag,
    # no dark skin-tone variant, no unknown word.
    assert concepts == ["1F34E", "1F34E", "1F34E", "1F388", "2764-FE0F"]
    apples = [s for s in sprites if s.concept == "1F34E"]
    assert all(s.captions == emoji_data.captions_for(APPLE) for s in apples)
    assert {s.source for s in apples} == {
        "@iconify-json/fluent-emoji-flat",
        "@iconify-json/fxemoji",
        "@iconify-json/noto-v1",
    }
    for s in sprites:
        assert s.pixels.shape == (32, 32, 4) and s.pixels.dtype == np.uint8
        assert set(np.unique(s.pixels[..., 3])) <= {0, 255}
    red = apples[0].pixels[apples[0].pixels[..., 3] == 255][:, :3].astype(int)
    assert (red[:, 0] > red[:, 2] + 100).mean() > 0.9


def test_sources_not_asked_for_or_not_installed_are_not_used(npm_root):
    sprites = sprite_sources.load_extra_sprites(npm_root, ENTRIES, ["noto-v1", "emojione"], progress=False)
    assert {s.source for s in sprites} == {"@iconify-json/noto-v1"}
    with pytest.raises(ValueError, match="unknown sources"):
        sprite_sources.load_extra_sprites(npm_root, ENTRIES, ["openmoji"], progress=False)


def _png(color, size=(70, 50)):
    import io

    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((5, 5, size[0] - 5, size[1] - 5), fill=color)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_kenney_sprites_come_only_from_cc0_folders_with_captions_from_file_names(tmp_path):
    wheel = tmp_path / "arcade-3.3.3-py3-none-any.whl"
    images = sprite_sources.KENNEY_IMAGES
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(images + "License.txt", "Everything in this package is licensed CC0 (see below).")
        z.writestr(images + "items/gemBlue.png", _png((30, 60, 220, 255)))
        z.writestr(images + "items/coinGold_ll.png", _png((230, 200, 30, 255)))  # a quarter: skipped
        z.writestr(images + "space_shooter/meteorGrey_big1.png", _png((120, 120, 120, 255)))
        z.writestr(images + "cybercity_background/foreground.png", _png((200, 0, 200, 255)))  # not Kenney's
    index = NameIndex([*ENTRIES, {"name": "GEM STONE", "unified": "1F48E", "short_names": ["gem"]}])
    jobs = sprite_sources.kenney_jobs(wheel, index)
    assert sorted((j[1], j[2][0]) for j in jobs) == [("1F48E", "blue gem"), ("name:big-grey-meteor", "big grey meteor")]
    assert "a blue gem" in jobs[0][2] or "a blue gem" in jobs[1][2]
    assert sprite_sources.kenney_phrase("tankBody_bigRed_outline") is None
    assert sprite_sources.kenney_phrase("alienBlue_front") == "blue alien"
    sprites = sprite_sources.load_extra_sprites(tmp_path, ENTRIES, [KENNEY.key], arcade=wheel, progress=False)
    assert len(sprites) == 2 and {s.source for s in sprites} == {"pypi:arcade"}
    with zipfile.ZipFile(tmp_path / "bad.whl", "w") as z:
        z.writestr(images + "License.txt", "All rights reserved.")
    with pytest.raises(LicenceError):
        sprite_sources.kenney_jobs(tmp_path / "bad.whl", index)


def test_builder_writes_v2_set_deterministically(npm_root, tmp_path):
    out1, out2 = tmp_path / "a.npz", tmp_path / "b.npz"
    args = ["--npm", str(npm_root), "--sources", "fluent-emoji-flat,fxemoji,noto-v1", "--colour-copies", "2"]
    assert build.main([*args, "-o", str(out1)]) == 0
    assert build.main([*args, "-o", str(out2)]) == 0
    pixels, meta = emoji_data.load_dataset(out1)
    pixels2, meta2 = emoji_data.load_dataset(out2)
    assert np.array_equal(pixels, pixels2) and meta == meta2
    copies = [m for m in meta if m["source"].startswith("hue:")]
    assert copies and len(pixels) == 5 + len(copies)
    for m in copies:
        colour = m["source"].removeprefix("hue:")
        assert all(colour in caption for caption in m["captions"])
