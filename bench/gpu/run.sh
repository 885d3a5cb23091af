#!/usr/bin/env bash
# Issue 3's GPU run, made to be one device call (prepare with bench/gpu/prepare.sh first):
# `segread retrain` on the digits set on CUDA (from scratch, or FROM=<a project .pt> to fine-tune),
# timed end to end (data, training, export, parity, evaluation against the peer on the same frozen
# split, the gate), then the per-epoch training table of bench/train_speed.py. What comes back
# under $OUT: the log, the candidate's card, ONNX and weights, and the train-speed table.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/segread-gpu-out}
mkdir -p "$OUT"
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
MINUTES=${MINUTES:-5}
SYNTHETIC=${SYNTHETIC:-1500}
# Trained at 640 on whole photos, crops and synthetic crops, the model finds the display on whole
# frames (and scores on whole test photos) like the peer; it reads the tracked crop at 256.
IMGSZ=${IMGSZ:-640}
CROP=${CROP:-256}
# scratch, or a project model's .pt to fine-tune (it travels with the tree: models/ is tracked), e.g.
#   FROM=models/candidates/segread-20261126-233132.pt IMGSZ=320 CROP=320 bash bench/gpu/run.sh
FROM=${FROM:-scratch}
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
{ [ "${POLARS_STUB:-0}" = 0 ] && "$PY" -c "import polars" 2>/dev/null; } || export PYTHONPATH=$PWD/bench/gpu/stubs${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} YOLO_OFFLINE=1 PYTHONUNBUFFERED=1
DATA=${DATA:-.data}
sessions=()
[ -d "$DATA/sessions" ] && sessions=(--sessions "$DATA/sessions")
nvidia-smi -L 2>/dev/null | tee "$OUT/device.txt"

start=$(date +%s)
"$PY" -c "import sys; from trainer.cli import retrain; retrain(prog_name='segread retrain')" \
  --data "$DATA/digits" --synthetic "$SYNTHETIC" --crops 3 --device "$DEVICE" --from "$FROM" \
  --minutes "$MINUTES" --imgsz "$IMGSZ" --crop-size "$CROP" --batch 64 --workers 8 --compare "$DATA/peer.onnx" "${sessions[@]}" \
  --models-dir "$OUT/models" --runs-dir /tmp/segread-runs 2>&1 | tee "$OUT/retrain.log"
rc=${PIPESTATUS[0]}
echo "retrain: exit $rc, $(( $(date +%s) - start )) s end to end" | tee -a "$OUT/retrain.log"

# Keep what must come back within two folders of $OUT: the card, the ONNX and the .pt a later
# fine-tune starts from, promoted or kept aside.
find "$OUT/models" \( -name '*.json' -o -name '*.onnx' -o -name '*.pt' \) 2>/dev/null | while read -r f; do cp "$f" "$OUT/"; done
rm -rf "$OUT/models"

# The speed table gets whatever is left of one device call (DEADLINE seconds from the start), so a
# slow retrain never costs the retrain's own results.
left=$(( ${DEADLINE:-545} - ($(date +%s) - start) ))
if [ "${SPEED:-1}" = 1 ] && [ "$left" -gt 30 ]; then
  SEGREAD_DIGITS="$DATA/digits" timeout "$left" "$PY" bench/train_speed.py --device "$DEVICE" --sizes 128 256 640 2>&1 \
    | tail -8 | tee "$OUT/train_speed.txt"
fi
exit "$rc"
