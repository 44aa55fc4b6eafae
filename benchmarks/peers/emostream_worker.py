"""Times emostream on every frame of a video, in a process of its own, as fer_worker.py times fer.

Both workers decode the same file with the same OpenCV build and report the same JSON, so the
two start-ups and memory peaks are measured alike. Per frame emostream does what the pipeline
does between decoding and the socket: detect, crop, encode, head, quality, the face mesh, track,
and build and serialise the frame message (``schema.encode``); the send itself is benchmarked
elsewhere. Like ``run`` on a file, it reads up to two frames ahead to hand each detection frame
to the detector early (``Recognizer.foresight``); the decode is timed apart from the work either
way.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import time
from collections import deque
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()


def read(capture: Any) -> tuple[bool, Any, float]:
    """The next frame and the ms its decoding took."""
    start = time.perf_counter()
    ok, frame = capture.read()
    return ok, frame, (time.perf_counter() - start) * 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=None, help="as `emostream run`'s")
    parser.add_argument("--detector", default="short")
    parser.add_argument("--frames", type=int, default=None, help="at most this many frames")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls on the first frame")
    parser.add_argument("--detect-every", type=int, default=1, help="as `emostream run`'s")
    parser.add_argument("--quality-every", type=int, default=1, help="as `emostream run`'s")
    parser.add_argument(
        "--detection", choices=("inline", "ahead"), default="inline", help="as `emostream run`'s"
    )
    parser.add_argument("--landmarks", type=int, default=0, help="as `emostream run`'s; 0: off")
    parser.add_argument("--gaze", action="store_true", help="as `emostream run`'s")
    args = parser.parse_args()

    import cv2

    from stream.assemble import RecognizerOptions, open_mesh, open_models, video_recognizer
    from stream.faces.detector import FaceDetector
    from stream.process import quiet_native_logs
    from stream.publish import schema
    from stream.recognizer import Recognizer

    quiet_native_logs()
    options = RecognizerOptions(
        models=args.models,
        threads=args.threads,
        detect_every=args.detect_every,
        quality_every=args.quality_every,
        detection=args.detection,
        landmarks=args.landmarks,
        gaze=args.gaze,
    )
    models = open_models(options)[1]
    detector = FaceDetector(args.detector, min_score=0.5, max_faces=8)
    capture = cv2.VideoCapture(args.video, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise SystemExit(f"cannot open {args.video}")
    ok, first = capture.read()
    if not ok:
        raise SystemExit(f"no frame in {args.video}")
    warm = Recognizer(models, detector)
    for _ in range(args.warmup):
        warm.recognize(first)
    capture.release()
    capture = cv2.VideoCapture(args.video, cv2.CAP_FFMPEG)
    recognizer = video_recognizer(models, detector, open_mesh(options), options)
    labels = recognizer.labels
    startup_s = time.perf_counter() - STARTED

    digest = hashlib.md5()
    decode_ms: list[float] = []
    process_ms: list[float] = []
    faces: list[int] = []
    top: list[str | None] = []
    early: deque[tuple[bool, Any, float]] = deque()  # read ahead, as `run` reads a file
    while args.frames is None or len(process_ms) < args.frames:
        ok, frame, read_ms = early.popleft() if early else read(capture)
        if not ok:
            break
        while distance := recognizer.foresight:
            while len(early) < distance and (not early or early[-1][0]):
                early.append(read(capture))
            if len(early) < distance or not early[distance - 1][0]:
                break
            recognizer.foresee(early[distance - 1][1], distance)
        t1 = time.perf_counter()
        result = recognizer.recognize(frame)
        found = [face.to_message(labels, False) for face in result.faces]
        height, width = frame.shape[:2]
        message = schema.frame_message(
            "bench", len(process_ms), time.time(), time.time(), width, height, found, {}
        )
        schema.encode(message)
        t2 = time.perf_counter()
        decode_ms.append(read_ms)
        process_ms.append((t2 - t1) * 1000.0)
        faces.append(len(found))
        top.append(found[0]["label"] if found else None)
        digest.update(frame)
    capture.release()
    recognizer.close()
    detector.close()
    result = {
        "tool": "emostream",
        "frames": len(process_ms),
        "startup_s": startup_s,
        "decode_ms": decode_ms,
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
