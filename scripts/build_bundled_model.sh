#!/usr/bin/env bash
# Rebuild the bundled sprite model from scratch: emoji art from npm -> pixelated data set ->
# training (checkpointed; re-run to resume) -> fp16 safetensors inside the package.
# Usage: scripts/build_bundled_model.sh [MINUTES]   (default 120; needs the venv active)
# The shipped weights' schedule: 14,400 steps (about 5 h on a 2-core CPU), the learning rate
# cooling down from step 11,000; run the script again until it reaches the last step.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-120}"
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" HF_HUB_OFFLINE=1
mkdir -p data/npm
if [ ! -d data/npm/node_modules/emoji-datasource-twitter ]; then
  # Pinned versions: the data set is reproducible.
  npm install --prefix data/npm --no-save --silent emoji-datasource-twitter@16.0.0 emoji-datasource-google@16.0.0
fi
# Data v2 (not yet what the shipped weights were trained on): more drawings per concept and colour
# copies. Needs `pip install -e .[data]` (resvg-py). Build it with DATA_V2=1.
if [ "${DATA_V2:-0}" = 1 ]; then
  if [ ! -d data/npm/node_modules/emojibase-data ]; then
    # One install for all: npm --no-save removes the packages an earlier command installed.
    npm install --prefix data/npm --no-save --silent emoji-datasource-twitter@16.0.0 emoji-datasource-google@16.0.0 \
      @iconify-json/fluent-emoji-flat@1.2.6 @iconify-json/fxemoji@1.2.2 @iconify-json/noto-v1@1.2.5 \
      @iconify-json/emojione@1.2.3 @iconify-json/streamline-emojis@1.2.4 emojibase-data@17.0.0
  fi
  # Kenney's CC0 sprites ship inside the arcade wheel (only its images are read, nothing is installed).
  [ -f data/pypi/arcade-3.3.3-py3-none-any.whl ] || pip download --no-deps --quiet -d data/pypi arcade==3.3.3
  [ -f data/emoji32_v2.npz ] || python -m pixelgif.train.bundled.build --npm data/npm/node_modules --sources all \
    --colour-copies 2 --arcade data/pypi/arcade-3.3.3-py3-none-any.whl -o data/emoji32_v2.npz
  # The sprite library shipped with the weights: data v2's drawings and their caption embeddings.
  python -m pixelgif.train.bundled.library --data data/emoji32_v2.npz --tags data/npm/node_modules/emojibase-data/en/data.json
fi
[ -f data/emoji32.npz ] || python -m pixelgif.train.bundled.build --npm data/npm/node_modules -o data/emoji32.npz
python -m pixelgif.train.bundled train --data data/emoji32.npz --out runs/bundled --minutes "$minutes" \
  --steps 14400 --decay-start 11000 --decay-steps 4000
python -m pixelgif.train.bundled export --checkpoint runs/bundled/last.pt
