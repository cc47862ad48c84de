#!/bin/bash
# Distil a 3-step and a 4-step student of the bundled model side by side on one GPU (the device
# machine of a session that has one; torch only there, no diffusers). Results land in $OUT:
# s<N>.safetensors (EMA student, fp16), s<N>_snap.safetensors (its latest snapshot), s<N>.log.
# Caption states travel packed: python -m pixelgif.train.bundled.distill --out runs/gpu --pack runs/gpu/states.pt
#   MINUTES=6.5 BATCH=1024 bash scripts/distill_on_gpu.sh
set -u
export PYTHONPATH=src PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
minutes=${MINUTES:-6.5} batch=${BATCH:-1024} device=${DEVICE:-cuda} work=${WORK:-/tmp/distill}
out=${OUT:?set OUT}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
for pair in "3 4" "4 3"; do
  set -- $pair
  python3 -m pixelgif.train.bundled.distill --out "$work/s$1" --states runs/gpu/states.pt --device "$device" \
    --steps "$1" --substeps "$2" --batch "$batch" --lr 1e-4 --ema 0.998 --warmup 200 --minutes "$minutes" \
    --snapshots 2000 > "$work.s$1.out" 2>&1 &
done
wait
for n in 3 4; do
  echo "== student of $n steps"; tail -n 3 "$work.s$n.out"; head -n 2 "$work/s$n/log.txt"; tail -n 3 "$work/s$n/log.txt"
  cp "$work/s$n/log.txt" "$out/s$n.log"
  python3 -m pixelgif.train.bundled.distill --out "$work/s$n" --steps "$n" --export "$work/s$n/final" \
    && cp "$work/s$n/final/unet/diffusion_pytorch_model.safetensors" "$out/s$n.safetensors"
  snap=$(ls -d "$work/s$n"/step* 2>/dev/null | sort -V | tail -n 1)
  [ -n "$snap" ] && cp "$snap/unet/diffusion_pytorch_model.safetensors" "$out/s${n}_snap.safetensors" && echo "snapshot $snap"
done
ls -la "$out"
