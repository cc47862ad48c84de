"""Make the image-keyframe example of docs/morph.md: two 32x32 sprites drawn in code, morphed.

    python scripts/make_image_keyframe_example.py     # docs/image_keyframes.gif and its two sprites

The sprites are drawn here with PIL (no outside art, so no licence question): a caterpillar and
a butterfly on a transparent background, each on a few flat colours, as pixel artists draw them.
The morph runs on the bundled model, offline on the CPU, in a few seconds.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

from PIL import Image, ImageDraw

OUTLINE = (34, 32, 52, 255)


def caterpillar() -> Image.Image:
    """Return a 32x32 RGBA caterpillar: green body segments, a red head with eyes and antennae."""
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for i, x in enumerate(range(3, 22, 5)):
        y = 15 + (2 if i % 2 else 0)
        draw.ellipse((x, y, x + 7, y + 7), fill=(106, 190, 48, 255), outline=OUTLINE)
        draw.point((x + 3, y + 2), fill=(153, 229, 80, 255))
    draw.ellipse((21, 10, 29, 18), fill=(217, 87, 99, 255), outline=OUTLINE)
    draw.point([(24, 13), (27, 13)], fill=OUTLINE)
    draw.line([(23, 10), (21, 6)], fill=OUTLINE)
    draw.line([(27, 10), (29, 6)], fill=OUTLINE)
    return image


def _mirror(side: int, dx: int) -> int:
    """Return the column ``dx`` pixels out from the middle of a 32 px sprite, right (side 1) or left (-1)."""
    return 16 + dx if side > 0 else 15 - dx


def butterfly() -> Image.Image:
    """Return a 32x32 RGBA butterfly: orange and yellow wings, a dark body, antennae."""
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for side in (-1, 1):
        x = partial(_mirror, side)
        upper = [(x(1), 9), (x(6), 4), (x(13), 5), (x(14), 11), (x(9), 15), (x(1), 15)]
        lower = [(x(1), 16), (x(9), 16), (x(12), 22), (x(8), 27), (x(3), 25), (x(1), 20)]
        draw.polygon(upper, fill=(223, 113, 38, 255), outline=OUTLINE)
        draw.polygon(lower, fill=(251, 242, 54, 255), outline=OUTLINE)
        draw.ellipse((min(x(7), x(10)), 8, max(x(7), x(10)), 11), fill=(255, 255, 255, 255))
    draw.rectangle((15, 8, 16, 26), fill=OUTLINE)
    draw.line([(15, 8), (12, 3)], fill=OUTLINE)
    draw.line([(16, 8), (19, 3)], fill=OUTLINE)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs", help="folder for the sprites and the GIF")
    parser.add_argument("--frames", type=int, default=12)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    first, second = out / "image_keyframes_caterpillar.png", out / "image_keyframes_butterfly.png"
    caterpillar().save(first)
    butterfly().save(second)

    from pixelgif.morph import MorphConfig
    from pixelgif.morph.keyframes import Keyframe
    from pixelgif.run import RunRequest, run_morph

    config = MorphConfig(
        prompts=[Keyframe(image=first, caption="a caterpillar"), Keyframe(image=second, caption="a butterfly")],
        frames=args.frames,
        loop=True,
    )
    started = time.perf_counter()
    written = run_morph(RunRequest(morph=config, output=out / "image_keyframes.gif"), progress=False)
    seconds = time.perf_counter() - started
    written.settings.unlink()  # it records this machine's absolute paths: not for the repository
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in written.result.timings.items())
    print(f"wrote {written.output} ({len(written.result.frames)} frames) in {seconds:.1f} s ({timings})")


if __name__ == "__main__":
    main()
