"""``python -m pixelgif.train.bundled train|export``: see ``pixelgif.train.bundled``."""

from . import main

raise SystemExit(main())
