"""The Python API for embedding emostream: load the models once, then ask about images and videos.

>>> from stream import Analyzer
>>> with Analyzer() as analyzer:
...     faces = analyzer.image(cv2.imread("photo.jpg"))          # list[FaceResult]
...     for frame in analyzer.video("clip.mp4"):                  # FrameResult per frame
...         print(frame.time_s, [face.label for face in frame.faces])
...     table = analyzer.table("clip.mp4")                        # DataFrame, or list of dicts

A video goes through the same :class:`~stream.recognizer.Recognizer` as ``emostream run``, with
the same cadence (detection every 3rd frame; per track, quality every 5th and the face mesh every
10th) and the same tracker smoothing, so its labels and boxes are the ones ``run`` would publish
for that file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from stream.analysis.results import FaceResult, FrameResult
from stream.analysis.rows import frame_rows, to_table
from stream.assemble import (
    RecognizerOptions,
    open_detector,
    open_mesh,
    open_models,
    video_recognizer,
)
from stream.errors import SourceError
from stream.models import Models
from stream.publish.closable import Closable
from stream.recognizer import (
    VIDEO_DETECT_EVERY,
    VIDEO_LANDMARKS_EVERY,
    VIDEO_QUALITY_EVERY,
    Recognizer,
)
from stream.sources import open_source
from stream.sources.file import PREFETCH

ProgressCallback = Callable[[int, int | None], None]


class Analyzer(Closable):
    """Loads the models and the face detector once; :meth:`close` (or ``with``) releases them.

    ``models`` is a model folder, ``model`` the name of a member of the installed family
    (``emostream models``); by default the family's default member. The other arguments are
    ``emostream run``'s options of the same names.
    """

    def __init__(
        self,
        models: str | Path | None = None,
        *,
        model: str | None = None,
        detector: str = "short",
        delegate: str = "cpu",
        threads: int = 2,
        min_score: float = 0.5,
        max_faces: int = 8,
        smoothing: float = 0.4,
        detect_every: int = VIDEO_DETECT_EVERY,
        quality_every: int = VIDEO_QUALITY_EVERY,
        min_quality: float | None = None,
        landmarks: int = VIDEO_LANDMARKS_EVERY,
        gaze: bool = False,
    ) -> None:
        self._options = RecognizerOptions(
            detection="inline",  # each detection on the frame it is due: rows as they always were
            model=model,
            models=Path(models) if models is not None else None,
            delegate=delegate,
            threads=threads,
            detector=detector,
            min_score=min_score,
            max_faces=max_faces,
            smoothing=smoothing,
            detect_every=detect_every,
            quality_every=quality_every,
            min_quality=min_quality,
            landmarks=landmarks,
            gaze=gaze,
        )
        self.models: Models = open_models(self._options)[1]
        self.labels: tuple[str, ...] = self.models.manifest.labels
        self.detector = open_detector(self._options)
        self._mesh = open_mesh(self._options)  # one interpreter for the stills and every video
        self._still = Recognizer(
            self.models, self.detector, min_quality=min_quality, mesh=self._mesh
        )

    def image(self, bgr: np.ndarray) -> list[FaceResult]:
        """The faces in one BGR image, most confident detection first (ids 1, 2, …)."""
        return [FaceResult.of(face, self.labels) for face in self._still.recognize(bgr).faces]

    def video(
        self, path: str | Path, progress: ProgressCallback | None = None
    ) -> Iterator[FrameResult]:
        """Every frame of a video file, an image folder or one image, in order.

        ``progress(frames_done, frames_total)`` is called after each frame (the total is None
        where the container does not say). A file cut off mid-write ends at its last decodable
        frame with a warning logged; a path that is not a readable source raises
        :class:`~stream.errors.SourceError`.
        """
        if not Path(path).exists():  # a recording, not a camera index or a stream URL
            raise SourceError(f"{path}: no such file or folder")
        source = open_source(str(path), read_ahead=PREFETCH)  # a batch: frames a second count
        recognizer = video_recognizer(self.models, self.detector, self._mesh, self._options)
        total = source.info.frame_count
        try:
            while (frame := source.read()) is not None:
                faces = recognizer.recognize(frame.image).faces
                yield FrameResult(
                    str(path),
                    frame.index,
                    frame.position_s,
                    [FaceResult.of(face, self.labels) for face in faces],
                )
                if progress is not None:
                    progress(frame.index + 1, total)
        finally:
            source.close()

    def table(self, path: str | Path) -> Any:
        """:meth:`video` as rows (see :mod:`stream.analysis.rows`): a pandas DataFrame when pandas
        is installed, else a list of dicts."""
        rows = [row for frame in self.video(path) for row in frame_rows(frame, self.labels)]
        return to_table(rows, self.labels)

    def close(self) -> None:
        self.detector.close()
