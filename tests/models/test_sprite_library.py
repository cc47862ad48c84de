"""The sprite library: prompts that name a known sprite start from a real drawing of it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from pixelgif.cli import main
from pixelgif.models import backend_of
from pixelgif.models.bundled import load_bundled_pipeline
from pixelgif.models.bundled.colours import dominant_hue
from pixelgif.models.bundled.library import (
    KEYWORD_HOLDERS,
    KEYWORD_SIMILARITY,
    MIN_SIMILARITY,
    SpriteLibrary,
    bundled_library,
)
from pixelgif.morph.engine import MorphConfig, MorphPipeline


def _sprite(rgb) -> np.ndarray:
    sprite = np.zeros((32, 32, 4), np.uint8)
    sprite[8:24, 8:24] = (*rgb, 255)
    return sprite


def _library() -> SpriteLibrary:
    """Two concepts: a red balloon in two drawings, a green leaf in one; captions on two axes."""
    pixels = np.stack([_sprite((220, 30, 30)), _sprite((200, 20, 40)), _sprite((40, 180, 60))])
    embeddings = np.asarray([[1.0, 0.0], [0.0, 1.0]], np.float32)
    return SpriteLibrary(pixels, np.asarray([0, 0, 1]), embeddings, np.asarray([0, 1]), ["a balloon", "a leaf"])


def _embed_as(vectors: dict[str, list[float]]):
    def embed(texts):
        return np.asarray([vectors[t] for t in texts], np.float32)

    return embed


def test_a_close_prompt_finds_its_drawing_and_the_seed_picks_which():
    library = _library()
    embed = _embed_as({"a party balloon": [0.9, 0.19**0.5], "a balloon": [1.0, 0.0]})  # "party" only describes it
    first, match = library.find("a party balloon", embed, seed=0)
    second, _ = library.find("a party balloon", embed, seed=1)
    assert np.array_equal(first, library.pixels[0]) and np.array_equal(second, library.pixels[1])
    assert match.caption == "a balloon" and match.score == pytest.approx(0.9)
    assert (match.drawing, match.drawings, match.colour) == (0, 2, None)
    assert np.array_equal(library.find("a party balloon", embed, seed=2)[0], first)  # seed modulo the drawings


def test_emoji_keywords_let_a_naming_word_fit_without_becoming_known_words():
    # "party" names another concept ("a party popper"): on its own it may not fit the balloon; as
    # one of the balloon's keywords it does. Keywords add no known words ("celebration").
    pixels = np.stack([_sprite((220, 30, 30)), _sprite((40, 180, 60)), _sprite((200, 200, 40))])
    embeddings = np.eye(3, dtype=np.float32)
    args = (pixels, np.asarray([0, 1, 2]), embeddings, np.asarray([0, 1, 2]), ["a balloon", "a leaf", "a party popper"])
    near_party = [0.9, 0.0, 0.19**0.5]  # as near "a party" as the prompt itself: not a kind of balloon
    embed = _embed_as({"a party balloon": near_party, "a party": near_party})
    assert SpriteLibrary(*args).find("a party balloon", embed, seed=0) is None
    tagged = SpriteLibrary(*args, tags={0: "celebration party"})
    _, match = tagged.find("a party balloon", embed, seed=0)
    assert match.caption == "a balloon"
    assert "celebration" not in tagged.known_words and tagged.known_words == SpriteLibrary(*args).known_words


def test_the_nearest_drawings_keywords_may_name_the_prompts_thing():
    # "a gift box": no caption's head noun is "box", but the nearest drawing's keywords say it is one;
    # a face wearing a hat is not a hat, whatever its keywords say.
    pixels = np.stack([_sprite((220, 30, 30)), _sprite((40, 180, 60))])
    captions = ["gift", "a face with cowboy hat"]
    args = (pixels, np.asarray([0, 1]), np.eye(2, dtype=np.float32), np.asarray([0, 1]), captions)
    tags = {0: "box present wrapped", 1: "cowboy hat cowgirl"}
    unrelated = {"box": [0.0, 1.0], "gift": [1.0, 0.0], "hat": [0.0, 1.0], "face": [1.0, 0.0]}  # as nouns
    embed = _embed_as({"a gift box": [0.8, 0.3], "a cowboy hat": [0.3, 0.9], **unrelated})
    assert SpriteLibrary(*args).find("a gift box", embed, seed=0) is None
    _, match = SpriteLibrary(*args, tags=tags).find("a gift box", embed, seed=0)
    assert match.caption == "gift"
    assert SpriteLibrary(*args, tags=tags).find("a cowboy hat", embed, seed=0) is None


def test_a_nearer_emoji_of_another_group_is_not_the_thing_the_library_draws_plainly():
    # "a mountain bike": the nearest drawing is a person riding one (people), its keywords say bike;
    # the library draws a bike plainly (travel and places), so the rider is not taken. In the same
    # group ("a fire truck" -> "a fire engine" beside "truck") the nearest still is.
    pixels = np.stack([_sprite((40, 160, 60)), _sprite((200, 30, 30))])
    nearest, plain = "a mountain bicyclist", "bike"

    def library(groups: tuple[str, str], with_plain: bool = True) -> SpriteLibrary:
        captions = [nearest, f"{nearest}, sport, {groups[0]}"] + (
            [plain, f"a bicycle, ground, {groups[1]}"] if with_plain else []
        )
        count = len(captions)
        embeddings = np.eye(count, dtype=np.float32)
        concepts = np.asarray([0, 0, 1, 1][:count])
        tags = {0: "bike mountain cyclist", 1: "bike cycle"}
        return SpriteLibrary(pixels, np.asarray([0, 1]), embeddings, concepts, captions, tags=tags)

    embed = _embed_as({"a mountain bike": [0.81, 0.5, 0.72, 0.4][: 4], "bike": [0.0, 0.0, 1.0, 0.0],
                       "bicyclist": [1.0, 0.0, 0.0, 0.0]})  # fmt: skip
    assert library(("people and body", "travel and places")).find("a mountain bike", embed, seed=0) is None
    _, match = library(("travel and places", "travel and places")).find("a mountain bike", embed, seed=0)
    assert match.caption == nearest
    alone = _embed_as({"a mountain bike": [0.81, 0.5]})
    _, match = library(("people and body", "travel and places"), with_plain=False).find(
        "a mountain bike", alone, seed=0
    )
    assert match.caption == nearest  # with no plain bike to prefer, the keywords decide as before


def test_a_bare_thing_below_the_caption_threshold_takes_the_drawing_whose_keywords_name_it():
    # "a pumpkin": no caption is near enough, but the jack-o-lantern's keywords say pumpkin; only
    # above KEYWORD_SIMILARITY, never a face, and not for another thing ("a pumpkin pie").
    pixels = np.stack([_sprite((240, 140, 20)), _sprite((200, 200, 40))])
    captions = ["a jack o lantern", "a pumpkin face"]
    args = (pixels, np.asarray([0, 1]), np.eye(2, dtype=np.float32), np.asarray([0, 1]), captions)
    tags = {0: "celebration halloween pumpkin", 1: "pumpkin smile"}
    below = (MIN_SIMILARITY + KEYWORD_SIMILARITY) / 2
    embed = _embed_as(
        {
            "a pumpkin": [below, 0.1],
            "a pumpkin pie": [below, 0.0],
            "a gourd": [below, 0.0],
            "a halloween pumpkin": [below, 0.0],
            "a giant pumpkin": [below, 0.0],
        }
    )
    assert SpriteLibrary(*args).find("a pumpkin", embed, seed=0) is None
    library = SpriteLibrary(*args, tags=tags)
    _, match = library.find("a pumpkin", embed, seed=0)
    assert match.caption == "a jack o lantern" and match.score == pytest.approx(below)
    assert library.find("a pumpkin pie", embed, seed=0) is None
    # Other naming words must be the drawing's keywords too.
    assert library.find("a halloween pumpkin", embed, seed=0)[1].caption == "a jack o lantern"
    assert library.find("a giant pumpkin", embed, seed=0)[1].caption == "a jack o lantern"  # giant only describes
    assert library.find("a gourd", embed, seed=0) is None  # no keyword names it
    far = _embed_as({"a pumpkin": [KEYWORD_SIMILARITY - 0.05, 0.0]})
    assert library.find("a pumpkin", far, seed=0) is None
    # A keyword more emoji share than KEYWORD_HOLDERS is a theme ("holiday"), not the thing.
    shared = {**tags, **{2 + n: "pumpkin" for n in range(KEYWORD_HOLDERS - 1)}}
    assert SpriteLibrary(*args, tags=shared).find("a pumpkin", embed, seed=0) is None


def test_a_thing_in_a_container_no_drawing_holds_takes_the_bare_container():
    # "a bottle of wine": no caption is wine in a bottle; a bottle drawn plainly is the next best,
    # a bottle named as another kind ("a baby bottle") is not.
    pixels = np.stack([_sprite((40, 160, 60)), _sprite((200, 200, 240)), _sprite((150, 20, 60))])
    captions = ["a baby bottle", "a bottle with popping cork", "a wine glass"]
    args = (pixels, np.asarray([0, 1, 2]), np.eye(3, dtype=np.float32), np.asarray([0, 1, 2]), captions)
    nouns = {"wine": [0.0, 0.0, 1.0], "bottle": [1.0, 0.0, 0.0], "glass": [0.0, 1.0, 0.0]}
    embed = _embed_as({"a bottle of wine": [0.66, 0.62, 0.42], **nouns})
    _, match = SpriteLibrary(*args).find("a bottle of wine", embed, seed=0)
    assert match.caption == "a bottle with popping cork"
    only_baby = (pixels[:1], np.asarray([0]), np.eye(1, 3, dtype=np.float32), np.asarray([0]), captions[:1])
    assert SpriteLibrary(*only_baby).find("a bottle of wine", embed, seed=0) is None


def test_the_library_builder_takes_each_emojis_keywords(tmp_path):
    from pixelgif.train.bundled.library import emoji_keywords

    data = tmp_path / "data.json"
    data.write_text(json.dumps([{"hexcode": "1F332", "tags": ["tree", "pine", "christmas"]},
                                {"hexcode": "0023-FE0F-20E3", "tags": ["keycap"]}, {"hexcode": "1F343"}]))  # fmt: skip
    found = emoji_keywords(data, ["1F332", "0023-20E3", "1F343", "name:pine", "1F999"])
    assert found == {"1F332": "christmas pine tree", "0023-20E3": "keycap"}  # variation selectors ignored
    assert bundled_library().vocabulary[bundled_library().concepts.index("1F332")] >= {"pine", "evergreen"}


def test_a_far_prompt_is_left_to_the_model():
    far = [MIN_SIMILARITY - 0.05, (1 - (MIN_SIMILARITY - 0.05) ** 2) ** 0.5 * 0]
    assert _library().find("a castle", _embed_as({"a castle": far}), seed=0) is None


def test_a_colour_word_recolours_the_drawing_and_is_left_out_of_the_match():
    library = _library()
    # "orange" and "leaf" embedded alike: the library takes them for synonyms.
    embed = _embed_as({"a balloon": [1.0, 0.0], "an orange": [0.0, 1.0], "orange": [0.0, 1.0], "leaf": [0.0, 1.0]})
    blue, match = library.find("a blue balloon", embed, seed=0)
    assert match.colour == "blue" and dominant_hue(blue).family == "blue" and "recoloured blue" in match.describe()
    # The category some captions carry after a comma is not part of the account.
    tagged = dataclasses.replace(match, caption="a balloon, celebration, activities")
    assert tagged.describe() == "'a balloon' (drawing 1 of 2, recoloured blue)"
    red, match = library.find("a red balloon", embed, seed=0)
    assert match.colour is None and np.array_equal(red, library.pixels[0])  # already red: the drawing as it is
    # A colour word at the end is the noun: "an orange" is matched as it is and recolours nothing.
    _, match = library.find("an orange", embed, seed=0)
    assert match.caption == "a leaf" and match.colour is None


def test_the_shipped_library_matches_everyday_prompts():
    library = bundled_library()
    assert library is not None
    count = len(library.pixels)
    assert library.pixels.shape == (count, 32, 32, 4) and library.sprite_concepts.shape == (count,)
    assert len(library.captions) == len(library.embeddings) == len(library.caption_concepts)
    pipe = load_bundled_pipeline()
    whale, match = pipe.library_sprite("a big blue whale", seed=0)
    assert "whale" in match.caption and match.concept in {"1F40B", "1F433"}  # the emoji's code points
    assert whale.size == (32, 32) and whale.mode == "RGBA"
    assert pipe.library_sprite("asdf qwer zxcv", seed=0) is None


@pytest.fixture(scope="module")
def engine():
    return MorphPipeline(backend_of(load_bundled_pipeline()), progress=False)


def test_library_keyframes_are_the_drawings_pixel_for_pixel(engine):
    config = MorphConfig(prompts=["a big blue whale", "asdf qwer zxcv"], frames=2, steps=4, spacing="linear")
    result = engine(config)
    assert set(result.library) == {0}  # the nonsense prompt is the model's to draw
    drawing, _ = engine.pipe.library_sprite("a big blue whale", seed=0)
    shown = np.asarray(result.pixel_frames[0].convert("RGBA"))
    expected = np.asarray(drawing)
    visible = expected[..., 3] >= 128
    assert np.array_equal(shown[..., 3] > 0, visible) and np.array_equal(shown[visible, :3], expected[visible, :3])
    plain = engine(MorphConfig(prompts=config.prompts, frames=2, steps=4, spacing="linear", library=False))
    assert plain.library == {} and not np.array_equal(np.asarray(plain.frames[0]), np.asarray(result.frames[0]))
    other_seed = engine(MorphConfig(prompts=config.prompts, frames=2, steps=4, spacing="linear", seed=1))
    assert other_seed.library[0].drawing != result.library[0].drawing


def test_command_line_says_which_keyframes_came_from_the_library(tmp_path, capsys):
    out = tmp_path / "whale.gif"
    assert (
        main(["morph", "a big blue whale", "a red apple", "--frames", "2", "--steps", "4", "-q", "-o", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "keyframe 1 ('a big blue whale'): the sprite library's" in printed and "keyframe 2" in printed
    settings = json.loads(out.with_suffix(".json").read_text())
    assert settings["morph"]["library"] is True
    again = tmp_path / "plain.gif"
    assert main(["morph", "a big blue whale", "a red apple", "--frames", "2", "--steps", "4", "-q", "--no-library",
                 "-o", str(again)]) == 0  # fmt: skip
    assert "sprite library" not in capsys.readouterr().out
    assert json.loads(again.with_suffix(".json").read_text())["morph"]["library"] is False
    with Image.open(out) as a, Image.open(again) as b:
        assert np.asarray(a.convert("RGBA")).tobytes() != np.asarray(b.convert("RGBA")).tobytes()


def test_settings_files_from_before_the_library_replay_without_it(tmp_path):
    from pixelgif.settings import read_settings

    old = tmp_path / "old.json"
    old.write_text(
        json.dumps(
            {"format": "pixelgif-settings", "version": 2, "morph": {"prompts": ["a big blue whale", "a red apple"]}}
        )
    )
    assert read_settings(old)["morph"]["library"] is False


def test_library_builder_keeps_drawings_and_their_captions():
    from pixelgif.train.bundled.library import CAPTIONS_PER_CONCEPT, library_arrays

    pixels = np.stack([_sprite((220, 30, 30)), _sprite((30, 30, 220)), _sprite((200, 20, 40)), _sprite((40, 180, 60))])
    captions = ["balloon", "a balloon", "pixel art of a balloon", "a red balloon", "a party balloon", "balloons"]
    meta = [
        {"captions": captions, "concept": "1F388", "source": "twemoji"},
        {"captions": ["a blue balloon"], "concept": "1F388", "source": "hue:blue"},  # a colour copy: left out
        {"captions": ["balloon"], "concept": "1F388", "source": "noto"},
        {"captions": ["a leaf"], "concept": "1F343", "source": "noto"},
    ]
    arrays, kept, concepts, sources = library_arrays(pixels, meta)
    assert concepts == ["1F388", "1F343"] and dict(sources) == {"twemoji": 1, "noto": 2}
    assert np.array_equal(arrays["pixels"], pixels[[0, 2, 3]]) and arrays["sprite_concepts"].tolist() == [0, 0, 1]
    assert kept[:CAPTIONS_PER_CONCEPT] == ["balloon", "a balloon", "a red balloon", "a party balloon"]
    assert kept[CAPTIONS_PER_CONCEPT:] == ["a leaf"] and arrays["caption_concepts"].tolist() == [0, 0, 0, 0, 1]


@pytest.mark.parametrize(
    "prompt, wanted",
    [("a spaceship", "spaceship"), ("a wizard hat", None), ("a treasure chest", None), ("a coffee mug", "coffee"),
     ("a windmill", None), ("a cute kitten", "a cat"), ("a little puppy", "a dog"), ("a roaring lion", "lion"),
     ("a giraffe", "giraffe"), ("a cup of tea", "tea"), ("a glass of orange juice", None),
     ("a school bus", "a bus"), ("a police helicopter", "a helicopter"), ("a pirate ship", None),
     ("a hot air balloon", None), ("a space station", None), ("a fish tank", None), ("a stone castle", "castle"),
     ("a pumpkin", "jack o lantern"), ("a pickle", "cucumber"), ("a bottle of wine", "bottle with popping cork"),
     ("a chocolate birthday cake", "a birthday cake"), ("a cozy house", "house"), ("a beer mug", "beer mug"),
     ("a fire-breathing dragon", "dragon"), ("a muddy farm pig", "pig"), ("a rusty robot", "robot"),
     ("a wooden treasure chest", None), ("a fire-breathing robot", None), ("an ice cream cone", "ice cream"),
     ("a lemon slice", "lemon"), ("a dog bowl", None), ("a potion bottle", None), ("a traffic cone", None),
     ("a mountain bike", None), ("a fire truck", "fire engine"), ("a pirate", None)],
)  # fmt: skip
def test_a_drawing_is_used_only_when_it_is_the_thing_named(prompt, wanted):
    pipe = load_bundled_pipeline()
    hit = pipe.library_sprite(prompt, 0)
    if wanted is None:
        assert hit is None
    else:
        assert hit is not None and wanted in hit[1].caption


def test_a_colour_word_that_names_the_thing_is_not_a_coloured_caption():
    # "orange baby symbol", "an orange book": captions whose colour is orange, not oranges.
    hit = load_bundled_pipeline().library_sprite("an orange", 0)
    assert hit is not None and "tangerine" in hit[1].caption
    hit = load_bundled_pipeline().library_sprite("an orange cat", 0)
    assert hit is not None and "cat" in hit[1].caption and hit[1].colour in (None, "orange")


def test_head_nouns_of_prompts_and_captions():
    from pixelgif.models.bundled.library import phrase_nouns

    assert phrase_nouns("a big wizard hat") == ("hat", {"wizard"}, set())
    assert phrase_nouns("a glass of juice") == ("juice", set(), {"glass"})
    assert phrase_nouns("a bowl with spoon, food prepared") == ("bowl", set(), set())
    assert phrase_nouns("a bunch of grapes") == ("grape", set(), {"bunch"})
    assert phrase_nouns("a bow and arrow")[0] == "bow"
    assert phrase_nouns("a sleepy stone lion") == ("lion", set(), set())  # describing words do not name
    assert phrase_nouns("a stone") == ("stone", set(), set())  # unless nothing else does
    assert phrase_nouns("a fire-breathing dragon") == ("dragon", set(), set())  # a hyphenated participle describes
    assert phrase_nouns("a long-eared farm rabbit") == ("rabbit", {"farm"}, set())


def test_a_serving_named_after_the_thing_is_its_container():
    from pixelgif.models.bundled.library import serving_phrase

    assert serving_phrase("an ice cream cone") == "a cone of ice cream"
    assert serving_phrase("The coffee cups, steaming") == "a cup of coffee"  # as the matcher reads words
    assert serving_phrase("a cone") is None and serving_phrase("a dragon") is None
    assert serving_phrase("a cup of tea") is None  # already says what holds what


def test_a_plain_phrase_is_the_prompt_without_its_describing_words():
    from pixelgif.models.bundled.library import plain_phrase

    assert plain_phrase("a rusty old robot") == "a robot"
    assert plain_phrase("A muddy, fire-breathing farm pig") == "a farm pig"
    assert plain_phrase("a shiny golden") == "a shiny golden"  # nothing would be left


def test_command_line_says_when_the_model_draws_a_keyframe_the_library_nearly_matched(tmp_path, capsys):
    out = tmp_path / "hat.gif"
    assert (
        main(["morph", "a treasure chest", "a red apple", "--frames", "2", "--steps", "2", "-q", "-o", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "keyframe 1 ('a treasure chest'): no sprite-library drawing is that" in printed
    assert "the model draws it" in printed and "keyframe 2 ('a red apple'): the sprite library's" in printed
