#!/usr/bin/env bash
# Run here (not on the GPU machine) before the device run of bench/gpu/run.sh: fetches the wheels the
# GPU image lacks into .whl/ and copies the shared data and the peer into .data/, both git-ignored
# through .git/info/exclude. Then, with the device tool:
#   run(command="bash bench/gpu/run.sh", carry=[".whl", ".data"], timeout_s=560)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
SHARED=${SHARED:-../shared}
PY=${PY:-.venv/bin/python}
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")" && touch "$exclude"
for d in /.whl/ /.data/; do grep -qxF "$d" "$exclude" || echo "$d" >>"$exclude"; done

# Versions as installed here, so the GPU machine trains with what the tests ran against.
version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
rm -rf .whl && mkdir .whl
for name in ultralytics ultralytics-thop ultralytics-platform sqlite-utils sqlite-fts4 click-default-group; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$name==$(version "$name")"
done

rm -rf .data && mkdir -p .data
cp -r "$SHARED/data/digits" .data/digits
if [ "${WITH_SESSIONS:-1}" = 1 ]; then cp -r "$SHARED/data/sessions" .data/sessions; fi
cp "$SHARED/models/peer-baseline-yolov5n-640.onnx" .data/peer.onnx

tracked=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
carried=$(du -sb .whl .data | awk '{s += $1} END {print s}')
total=$(( (tracked + carried) / 1048576 ))
echo "travels: ${total} MiB of 64 (tracked $((tracked / 1048576)), .whl + .data $((carried / 1048576)))"
if [ "$total" -ge 64 ]; then echo "too big: rerun with WITH_SESSIONS=0 (the session gate then runs here)" >&2; exit 1; fi
