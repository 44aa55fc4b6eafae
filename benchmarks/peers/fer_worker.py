"""Times the ``fer`` package on every frame of a video; runs inside .bench-fer-venv, not ours.

fer needs TensorFlow, which emostream's environment must never load, so
``benchmarks/speed/versus_fer.py`` starts this file with the Python of the environment that
``benchmarks/peers/fer_env.sh`` builds. It imports nothing from emostream. Its default path is
timed as shipped: ``FER(mtcnn=False)`` (OpenCV's Haar cascade, then fer's bundled quantized
TFLite emotion model through ``tf.lite.Interpreter``), one ``detect_emotions(frame)`` call per
decoded frame.

One timed pass reads the file and calls fer on each frame in turn, as fer's own ``Video`` does:
nothing runs beside the call, so its ``process_ms`` is what emostream's worker times on frames
decoded beforehand, and ``file_ms`` (decode plus call) what it times reading the file as ``run``
does. The frames are hashed in a pass of their own before the timed one.

The last line on stdout is one JSON object in the shape ``emostream_worker.py`` prints too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import time

STARTED = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--frames", type=int, default=None, help="at most this many frames")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls on the first frame")
    args = parser.parse_args()

    import cv2
    from fer import __version__
    from fer.fer import FER

    recognizer = FER(mtcnn=False)
    capture = cv2.VideoCapture(args.video, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise SystemExit(f"cannot open {args.video}")
    ok, first = capture.read()
    if not ok:
        raise SystemExit(f"no frame in {args.video}")
    for _ in range(args.warmup):
        recognizer.detect_emotions(first)
    capture.release()
    startup_s = time.perf_counter() - STARTED

    digest = hashlib.md5()  # in a pass of its own before the timed one, as emostream's worker
    capture = cv2.VideoCapture(args.video, cv2.CAP_FFMPEG)
    count = 0
    while args.frames is None or count < args.frames:
        ok, frame = capture.read()
        if not ok:
            break
        digest.update(frame)
        count += 1
    capture.release()
    capture = cv2.VideoCapture(args.video, cv2.CAP_FFMPEG)
    decode_ms: list[float] = []
    process_ms: list[float] = []
    faces: list[int] = []
    top: list[str | None] = []
    while args.frames is None or len(process_ms) < args.frames:
        t0 = time.perf_counter()
        ok, frame = capture.read()
        t1 = time.perf_counter()
        if not ok:
            break
        found = recognizer.detect_emotions(frame)
        t2 = time.perf_counter()
        decode_ms.append((t1 - t0) * 1000.0)
        process_ms.append((t2 - t1) * 1000.0)
        faces.append(len(found))
        top.append(max(found[0]["emotions"], key=found[0]["emotions"].get) if found else None)
    capture.release()
    result = {
        "tool": f"fer {__version__}",
        "frames": len(process_ms),
        "startup_s": startup_s,
        "decode_ms": decode_ms,
        "file_ms": [wait + ms for wait, ms in zip(decode_ms, process_ms, strict=True)],
        "process_ms": process_ms,
        "faces": faces,
        "top": top,
        "digest": digest.hexdigest(),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
