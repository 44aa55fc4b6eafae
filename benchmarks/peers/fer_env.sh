#!/usr/bin/env bash
# Build .bench-fer-venv/: the `fer` package, pinned, with only what `FER(mtcnn=False)` needs, for the
# side-by-side benchmark (benchmarks/speed/versus_fer.py runs benchmarks/peers/fer_worker.py in it).
#
# Why a separate environment: fer's own requirements pull PyTorch (facenet-pytorch, for its MTCNN
# path), moviepy, pandas and TensorFlow, none of which emostream's runtime may load. So fer goes in
# with --no-deps and, beside it, what its import and its default path use, read from its code:
#   fer/fer.py    cv2, numpy, pkg_resources (setuptools < 81), requests, tensorflow (tf.lite and
#                 tf.keras) and, by default (use_tflite=True), tf.lite.Interpreter running its
#                 bundled data/emotion_model_quantized.tflite on Haar-cascade faces (cv2.data)
#   fer/utils.py  PIL, requests
#   fer/classes.py  pandas and tqdm, for Video.analyze (the offline benchmark)
# OpenCV is the build emostream's runtime resolves to (4.14, contrib), so both tools decode the file
# with the same FFmpeg; it needs NumPy 2, and TensorFlow 2.19 takes NumPy up to 2.1.
#
# Idempotent: a stamp inside the environment records what was installed; a second run with the same
# pins only checks that `from fer.fer import FER` still imports. Usage: bash benchmarks/peers/fer_env.sh
# (PYTHON=python3.11 and FER_VENV=.bench-fer-venv may be overridden).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3.11}
VENV=${FER_VENV:-.bench-fer-venv}
FER=fer==25.10.3
REQUIREMENTS=(
  numpy==2.1.3
  opencv-contrib-python==4.14.0.94
  tensorflow-cpu==2.19.1
  setuptools==80.9.0
  requests==2.34.2
  pillow==13.0.0
  pandas==2.2.3
  tqdm==4.67.1
)
STAMP="$VENV/.emostream-fer-env"
WANTED="$FER ${REQUIREMENTS[*]}"
CHECK='from fer.fer import FER'

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANTED" ] \
  && "$VENV/bin/python" -W ignore -c "$CHECK" >/dev/null 2>&1; then
  echo "fer environment up to date: $VENV ($FER)"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$FER"
TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" -W ignore -c "$CHECK" >/dev/null
echo "$WANTED" >"$STAMP"
echo "fer environment ready: $VENV ($FER)"
