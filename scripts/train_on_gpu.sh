#!/bin/bash
# Train the bundled model further on a GPU machine of the device tool (torch there; no internet,
# no diffusers, no MiniLM package): pack first, here, with `python scripts/pack_for_gpu.py`, then
# carry .gpu. Results land in $OUT: unet.safetensors (the EMA weights, fp16, the bundled layout),
# log.txt. MINUTES of training (default 7), BATCH (256), LR (1e-4, after 200 warm-up steps).
#   run(command="bash scripts/train_on_gpu.sh", carry=[".gpu"], timeout_s=600)
set -u
out=${OUT:?set OUT} data=${DATA:-.gpu/emoji32_v2.npz} minutes=${MINUTES:-7} batch=${BATCH:-256} lr=${LR:-1e-4} work=${WORK:-/tmp/gpu_train}
python3 -m pip install -q --no-index --no-deps --no-compile --target "$work/site" .gpu/whl/*.whl || exit 1
export PYTHONPATH="$work/site:.gpu/site:src" PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE MINILM_UNPACKED="$work/minilm"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -m pixelgif.train.bundled train --data "$data" --out "$work/run" \
  --init-weights src/pixelgif/models/bundled/weights --batch-size "$batch" --learning-rate "$lr" --warmup-steps 200 \
  --steps 1000000 --minutes "$minutes" --checkpoint-every 1000 --log-every 100 2>&1 | tr '\r' '\n' | grep -v "step/s" | tail -n 5
tail -n 4 "$work/run/log.txt"; cp "$work/run/log.txt" "$out/log.txt"
python3 -m pixelgif.train.bundled export --checkpoint "$work/run/last.pt" --to "$work/export" \
  && cp "$work/export/unet/diffusion_pytorch_model.safetensors" "$out/unet.safetensors" && ls -la "$out"
