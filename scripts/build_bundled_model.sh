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
[ -f data/emoji32.npz ] || python -m pixelgif.train.bundled.data --npm data/npm/node_modules -o data/emoji32.npz
python -m pixelgif.train.bundled train --data data/emoji32.npz --out runs/bundled --minutes "$minutes" \
  --steps 14400 --decay-start 11000 --decay-steps 4000
python -m pixelgif.train.bundled export --checkpoint runs/bundled/last.pt
