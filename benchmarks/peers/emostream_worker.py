"""Times emostream on every frame of a video, in a process of its own, as fer_worker.py times fer.

Both workers decode the same file with the same OpenCV build and report the same JSON, so the
two start-ups and memory peaks are measured alike. Per frame emostream does what the pipeline
does between decoding and the socket: detect, crop, encode, head, quality, the face mesh, track,
and build and serialise the frame message (``schema.encode``); the send itself is benchmarked
elsewhere.

Two timed passes, each with a fresh recognizer:
- ``file_ms``: the file read as ``run`` reads it by default, through ``FileSource``, each frame
  decoded when it is taken, so the detector gets each detection frame as it is read. Per frame,
  the wait for it and its work: what a user's file costs.
- ``process_ms``: the same frames decoded beforehand, so nothing decodes while the work is timed,
  and every frame is at hand: each detection frame goes to the detector up to three frames early
  (``Recognizer.foresight``), as ``run --read-ahead 4`` hands them over from a file.
  They are hashed as they are decoded, and the peak memory is read before they are held. The
  frames are worked through ``--passes`` times, each with a fresh recognizer, and every pass's
  frames are timed: one pass of the sample clip takes under a second, short enough for a burst
  on a shared machine to move it by a tenth, while fer's one pass takes fifteen.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

    import numpy as np

    from stream.recognizer import Recognizer

STARTED = time.perf_counter()


def decode_all(video: str, limit: int | None) -> tuple[list[np.ndarray], str]:
    """The first ``limit`` frames (all by default) and their MD5, as fer_worker.py hashes them."""
    import cv2

    capture = cv2.VideoCapture(video, cv2.CAP_FFMPEG)
    digest = hashlib.md5()
    frames = []
    while limit is None or len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        digest.update(frame)
        frames.append(frame)
    capture.release()
    return frames, digest.hexdigest()


def work(
    recognizer: Recognizer, schema: ModuleType, image: np.ndarray, number: int
) -> list[dict[str, Any]]:
    """One frame's recognition and its serialised message (``stream.publish.schema``), as the
    pipeline makes them."""
    result = recognizer.recognize(image)
    found = [face.to_message(recognizer.labels, False) for face in result.faces]
    height, width = image.shape[:2]
    now = time.time()
    schema.encode(schema.frame_message("bench", number, now, now, width, height, found, {}))
    return found


def file_pass(recognizer: Recognizer, video: str, limit: int | None) -> tuple[list, list, list]:
    """Per frame: ms waited for it, ms of work, its top label; reading as ``run`` reads a file."""
    from stream.pipeline import foresee_waiting
    from stream.publish import schema
    from stream.sources import FileSource

    waits: list[float] = []
    works: list[float] = []
    top: list[str | None] = []
    with FileSource(video) as source:
        while limit is None or len(works) < limit:
            start = time.perf_counter()
            frame = source.read()
            if frame is None:
                break
            foresee_waiting(source, recognizer)
            ready = time.perf_counter()
            found = work(recognizer, schema, frame.image, len(works))
            works.append((time.perf_counter() - ready) * 1000.0)
            waits.append((ready - start) * 1000.0)
            top.append(found[0]["label"] if found else None)
    return waits, works, top


def decoded_pass(
    recognizer: Recognizer, frames: list[np.ndarray]
) -> tuple[list[float], list[int], list[str | None]]:
    """Per frame: ms of work, faces found, top label; on frames decoded beforehand."""
    from benchmarks.speed.detect_ahead import foresee_decoded
    from stream.publish import schema

    process_ms: list[float] = []
    faces: list[int] = []
    top: list[str | None] = []
    for number, image in enumerate(frames):
        foresee_decoded(recognizer, frames, number)
        start = time.perf_counter()
        found = work(recognizer, schema, image, number)
        process_ms.append((time.perf_counter() - start) * 1000.0)
        faces.append(len(found))
        top.append(found[0]["label"] if found else None)
    return process_ms, faces, top


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
    parser.add_argument("--passes", type=int, default=5, help="timed passes on decoded frames")
    args = parser.parse_args()

    import cv2

    from stream.assemble import (
        RecognizerOptions,
        open_detector,
        open_mesh,
        open_models,
        video_recognizer,
    )
    from stream.process import quiet_native_logs
    from stream.recognizer import Recognizer

    quiet_native_logs()
    options = RecognizerOptions.from_options(vars(args))  # the flags are named as run's
    models = open_models(options)[1]
    detector = open_detector(options)
    capture = cv2.VideoCapture(args.video, cv2.CAP_FFMPEG)
    ok, first = capture.read()
    capture.release()
    if not ok:
        raise SystemExit(f"no frame in {args.video}")
    warm = Recognizer(models, detector)
    for _ in range(args.warmup):
        warm.recognize(first)
    startup_s = time.perf_counter() - STARTED

    def recognizer() -> Recognizer:
        return video_recognizer(models, detector, open_mesh(options), options)

    reader = recognizer()
    decode_ms, file_ms, file_top = file_pass(reader, args.video, args.frames)
    reader.close()
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    frames, digest = decode_all(args.video, args.frames)
    process_ms: list[float] = []
    tops = []
    for _ in range(max(args.passes, 1)):
        timed = recognizer()
        ms, faces, top = decoded_pass(timed, frames)
        timed.close()
        process_ms += ms
        tops.append(top)
    detector.close()
    result = {
        "tool": "emostream",
        "frames": len(frames),
        "passes": len(tops),
        "startup_s": startup_s,
        "decode_ms": decode_ms,
        "file_ms": [wait + ms for wait, ms in zip(decode_ms, file_ms, strict=True)],
        "process_ms": process_ms,
        "faces": faces,
        "top": top,
        "same_labels_from_file": file_top == top,
        "same_labels_every_pass": all(t == top for t in tops),
        "digest": digest,
        "peak_rss_mib": peak_rss_mib,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
