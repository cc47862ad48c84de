"""Does the sprite library start from the right drawing? Everyday phrasings, none of them a caption.

Each phrasing has the words a right caption contains (any one of them), or None when the library
has no drawing of the thing (then any match is wrong: the model should draw it). Counts right
matches, wrong matches (the issue's limit: <= 2 %) and fallbacks to the model (a miss is not wrong,
the model draws the thing, but the keyframe is less recognisable).

    python benchmarks/library_matches.py [--all] [--held-out 1|2|3]   # --all prints every phrasing, not only the misses
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pixelgif.models.bundled import load_bundled_pipeline

# phrasing -> words one of which a right caption holds (None: the library has no right drawing).
PHRASINGS: dict[str, list[str] | None] = {
    "a cute kitten": ["cat", "kitten"],
    "a little puppy": ["dog", "puppy"],
    "a fluffy sheep": ["sheep", "ewe", "ram"],
    "a pumpkin": ["pumpkin", "jack o lantern"],
    "a spaceship": ["spaceship", "rocket", "flying saucer"],
    "a treasure chest": None,
    "a wizard hat": None,
    "a witch hat": None,
    "a glass of orange juice": ["juice", "beverage box"],
    "a windmill": None,
    "a tall pine tree": ["evergreen", "pine", "christmas tree"],
    "a school bus": ["bus"],
    "a hot air balloon": None,
    "a pirate ship": ["pirate ship"],
    "a nice cup of tea": ["tea", "hot beverage", "teacup"],
    "a bowl of hot soup": ["soup", "stew", "pot of food", "bowl"],
    "a scoop of ice cream": ["ice cream"],
    "a bunch of purple grapes": ["grape"],
    "a juicy cherry": ["cherr"],
    "a loaf of fresh bread": ["bread", "baguette"],
    "a coffee mug": ["coffee", "hot beverage"],
    "a big backpack": ["backpack"],
    "a pair of sunglasses": ["sunglasses", "dark sunglasses"],
    "a wristwatch": ["watch"],
    "a bright light bulb": ["light bulb"],
    "a laptop computer": ["laptop", "personal computer"],  # the emoji is a laptop
    "a shiny trophy": ["trophy"],
    "a gold medal": ["medal"],
    "a big dinosaur": ["sauropod", "t rex", "dinosaur"],
    "a magical unicorn": ["unicorn"],
    "a tall giraffe": ["giraffe"],
    "a roaring lion": ["lion"],
    "a sleepy panda": ["panda"],
    "a red fox": ["fox"],
    "a grey wolf": ["wolf"],
    "a brown bear": ["bear"],
    "a bushy squirrel": ["squirrel", "chipmunk"],
    "a full moon at night": ["moon"],
    "a planet with rings": ["planet"],
    "a friendly robot": ["robot"],
    "a little green alien": ["alien"],
    "a brave knight": None,
    "a yellow submarine": None,
    "a stone castle": ["castle"],
    "a lighthouse by the sea": None,
    "a red barn": None,
    "a tall skyscraper": None,
    "a crackling campfire": ["fire", "campfire"],
    "a paper lantern": ["lantern"],
    "a sharp sword": ["sword", "dagger"],
    "a diamond ring": ["ring"],
    "a wrapped gift": ["gift", "present"],
    "a wooden yo-yo": ["yo yo"],
    "a pair of dice": ["die", "dice"],
    "a chess pawn piece": ["chess"],
    "a puzzle piece": ["puzzle"],
    "a beach ball": None,
    "a sandcastle": None,
    "a spiral seashell": ["shell"],
    "a starfish": None,
    "an old treasure map": None,
    "a potion bottle": None,
    "a cowboy hat": None,
    "a baseball cap": ["billed cap", "cap"],
    "a running sneaker": ["shoe", "sneaker"],
    "a leather boot": ["boot"],
    "a striped sock": ["sock"],
    "a comfy sofa": ["couch", "sofa"],
    "a desk lamp": None,
    "a white picket fence": None,
    "a traffic light at a crossing": ["traffic light"],
    "a stop sign": None,
    "a fire hydrant": None,
    "a cup of hot coffee": ["coffee", "hot beverage"],
    "a cold glass of milk": ["milk"],
    "a slice of pizza with cheese": ["pizza"],
    "a stack of pancakes": ["pancake"],
    "a red sports car": ["car", "racing car"],
    "a police helicopter": ["helicopter"],
    "a steam train": ["train", "locomotive"],
    "a little sailboat": ["sailboat"],
    "a happy snowman": ["snowman"],
    "a decorated christmas tree": ["christmas tree"],
    "a birthday cake with candles": ["birthday cake"],
    "a donut": ["doughnut", "donut"],
    "a pine tree": ["evergreen", "pine tree", "christmas tree"],
    "a fire truck": ["fire engine"],
    "a gift box": ["gift"],
}

# Written before the matcher's session-10 changes and not tuned on (`--held-out 1` scores them): more
# describing words, kinds of a thing the library has plainly, and things that only share a word
# with a drawing ("a fish tank" is no tank, "a dog house" no dog).
HELD_OUT: dict[str, list[str] | None] = {
    "a barking dog": ["dog"],
    "a fierce tiger": ["tiger"],
    "a grumpy cat": ["cat"],
    "a hungry shark": ["shark"],
    "a furry hamster": ["hamster"],
    "a wise owl": ["owl"],
    "a rusty robot": ["robot"],
    "a majestic eagle": ["eagle"],
    "a city taxi": ["taxi"],
    "a chocolate birthday cake": ["birthday cake", "cake"],
    "a wooden chair": ["chair"],
    "a toy robot": ["robot"],
    "a bunny rabbit": ["rabbit", "bunny"],
    "a sea turtle": ["turtle"],
    "a golden crown": ["crown"],
    "a spooky ghost": ["ghost"],
    "a sleeping fox": ["fox"],
    "a soccer ball on grass": ["soccer"],
    "a bowling ball": ["bowling"],
    "a wedding ring": ["ring"],
    "a garden snail": ["snail"],
    "a honey bee": ["bee"],
    "a howling wolf": ["wolf"],
    "a buzzing fly": ["fly"],
    "a hopping frog": ["frog"],
    "a tall lighthouse": None,
    "a paper plane": None,
    "a fish tank": None,
    "a dog house": None,
    "a tree house": None,
    "a water balloon": None,
    "a coffee table": None,
    "a cat toy": None,
    "a space station": None,
    "a hot air balloon": None,
    "a car wash": None,
    "a bus driver": None,
    "a police officer in uniform": ["police officer"],
    "a cowboy boot": None,
    "a toy train": ["train", "locomotive"],
}

# Written after the first held-out set had been used to set `GENERIC_MARGIN`, before any run on
# them (`--held-out 2`): kinds of things and look-alike compounds.
HELD_OUT_2: dict[str, list[str] | None] = {
    "a rubber duck": ["duck"],
    "a race horse": ["horse"],
    "a farm tractor": ["tractor"],
    "a tabby cat": ["cat"],
    "a guard dog": ["dog"],
    "a cargo ship": ["ship"],
    "a house cat": ["cat"],
    "a toy car": ["car", "automobile"],
    "a kitchen knife": ["knife"],
    "a rocking chair": ["chair"],
    "a pocket watch": ["watch"],
    "a rain cloud": ["cloud"],
    "a fire dragon": ["dragon"],
    "a night owl": ["owl"],
    "a sea lion": None,
    "a snow globe": None,
    "a golf ball": None,
    "a key chain": None,
    "a music box": None,
    "a phone booth": None,
    "a moon rock": None,
    "a water gun": None,
    "a candy cane": ["candy cane"],
    "a party hat": None,
    "a dog bowl": None,
    "a bird cage": None,
    "a cat bed": None,
    "a bee hive": None,
    "a fox hole": None,
    "a ship wheel": None,
}


# Session 16, written and labelled from the library's captions before any run on them
# (`--held-out 3`): what a game maker types, with describing words, possessives and quantities.
HELD_OUT_3: dict[str, list[str] | None] = {
    "a golden crown": ["crown"],
    "a sharp sword": ["sword", "dagger"],
    "a knight's shield": ["shield"],
    "a red mushroom": ["mushroom"],
    "a fierce green dragon": ["dragon"],
    "a gold coin": ["coin"],
    "an old rusty key": ["a key", "old key"],
    "a round black bomb": ["bomb"],
    "a woodcutter's axe": ["axe"],
    "a miner's pickaxe": ["pick"],
    "a yellow baby chick": ["chick"],
    "a slow snail": ["snail"],
    "a honey bee": ["bee"],
    "a goldfish": ["fish"],
    "a cheeseburger": ["hamburger"],
    "a pepperoni pizza": ["pizza"],
    "a chocolate cupcake": ["cupcake"],
    "a hot cup of coffee": ["coffee", "hot beverage"],
    "a jet airplane": ["airplane"],
    "a mountain bike": ["bicycle", "bike"],
    "a storm cloud": ["cloud"],
    "a tropical palm tree": ["palm tree"],
    "a red rose": ["rose"],
    "a friendly robot": ["robot"],
    "a green alien": ["alien"],
    "a spooky ghost": ["ghost"],
    "a cuddly teddy bear": ["teddy bear"],
    "an electric guitar": ["guitar"],
    "a football for soccer": ["soccer"],
    "a lit candle": ["candle"],
    "a white polar bear": ["polar bear"],
    "a sea turtle": ["turtle"],
    "a dog bone": ["bone"],
    "a hairy spider": ["spider"],
    "a great white shark": ["shark"],
    "a pet hamster": ["hamster"],
    "a wizard's spell book": ["book"],
    "a magic carpet": None,
    "a lighthouse": None,
    "a knight in armor": None,
    "a slice of cheese": ["cheese"],
    "a stack of books": ["book"],
    "a pair of socks": ["sock"],
    "a pair of boots": ["boot"],
    "a bunch of bananas": ["banana"],
    "a video game controller": ["video game", "joystick"],
    "a potion bottle": None,
    "a toy robot": ["robot"],
    "a baby dragon": ["dragon"],
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--all", action="store_true", help="print every phrasing, not only the misses")
    parser.add_argument("--held-out", type=int, choices=(1, 2, 3), help="score held-out set 1, 2 or 3 instead")
    args = parser.parse_args(argv)
    phrasings = {None: PHRASINGS, 1: HELD_OUT, 2: HELD_OUT_2, 3: HELD_OUT_3}[args.held_out]
    pipe = load_bundled_pipeline()
    library = pipe.library
    captions = {caption.split(",")[0] for caption in library.captions} if library is not None else set()
    assert not captions & set(phrasings), f"phrasings that are captions: {captions & set(phrasings)}"
    right = wrong = fallback = 0
    for phrasing, wanted in phrasings.items():
        hit = pipe.library_sprite(phrasing, 0)
        caption = hit[1].caption if hit is not None else None
        if caption is None:
            verdict = "model (right)" if wanted is None else "model (miss)"
            fallback += 1
            right += wanted is None
        elif wanted is not None and any(word in caption for word in wanted):
            verdict, right = "right", right + 1
        else:
            verdict, wrong = "WRONG", wrong + 1
        if args.all or verdict not in ("right", "model (right)"):
            print(f"  {phrasing!r:38s} -> {caption!r:40s} {verdict}")
    total = len(phrasings)
    print(f"{total} phrasings: {right} right ({right / total:.0%}), {wrong} wrong ({wrong / total:.1%}), "
          f"{fallback} drawn by the model")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
