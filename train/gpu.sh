#!/usr/bin/env bash
# One `device` call's command: fit a packed run on the lent GPU with Keras on JAX, within a
# wall-clock budget, and put what comes back in $OUT. See train/GPU.md.
#   bash train/gpu.sh PACK BUDGET_S [run|teacher]
# run: brings back the run folder (split into 15 MiB parts), to resume there or finish here.
# teacher: brings back the finished run's teacher CSV (a teacher's run is too big to carry).
set -euo pipefail
pack=${1:?the pack folder (python -m train pack)}
budget=${2:-480}
mode=${3:-run}
work=/tmp/emostream-gpu
out=${OUT:?run me through device.run, which sets OUT}

python3 -m pip install --quiet --no-index --find-links .gpu/wheels keras namex optree
python3 -m train unpack "$pack" --to "$work"
if [ -d .gpu/run ]; then
  cp -r .gpu/run "$work/run"  # a run brought back from an earlier call resumes
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
status=0
python3 -m train fit --config "$work/config.toml" --run-dir "$work/run" --budget "$budget" \
  --quiet 2>&1 | tee "$out/fit.log" || status=${PIPESTATUS[0]}
cp "$work/run/metrics.json" "$out/" 2>/dev/null || true
if [ "$mode" = teacher ] && [ "$status" = 0 ]; then
  python3 -m train teach --config "$work/config.toml" --run-dir "$work/run" --csv "$out/teacher.csv"
else
  tar czf - -C "$work" run | split -b 15M - "$out/run.tgz."
fi
echo "fit exit status $status (0: finished, 3: budget spent, rerun to resume)"
