"""Times fer's own offline path, ``Video.analyze``, on one file; runs inside .bench-fer-venv.

What a fer user runs to get a table from a recording: ``Video(path).analyze(FER(mtcnn=False))``
on every frame (``frequency=1``), with nothing saved but the results (no frames, no annotated
video, no zip). It imports nothing from emostream. The last line on stdout is one JSON object:
frames analysed and the wall time of the whole command, imports and model loading included.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

STARTED = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    args = parser.parse_args()

    from fer.classes import Video
    from fer.fer import FER

    with tempfile.TemporaryDirectory() as outdir:
        # Video.analyze also writes data.csv into the working directory: keep it in the scratch.
        os.chdir(outdir)
        video = Video(str(Path(args.video).resolve()), outdir=outdir)
        rows = video.analyze(
            FER(mtcnn=False),
            display=False,
            frequency=1,
            save_frames=False,
            save_video=False,
            annotate_frames=False,
            zip_images=False,
        )
    print(json.dumps({"frames": len(rows), "wall_s": time.perf_counter() - STARTED}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
