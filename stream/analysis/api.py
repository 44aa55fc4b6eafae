"""The Python API for embedding emostream: load the models once, then ask about images and videos.

>>> from stream import Analyzer
>>> with Analyzer() as analyzer:
...     faces = analyzer.image(cv2.imread("photo.jpg"))          # list[FaceResult]
...     for frame in analyzer.video("clip.mp4"):                  # FrameResult per frame
...         print(frame.time_s, [face.label for face in frame.faces])
...     table = analyzer.table("clip.mp4")                        # DataFrame, or list of dicts

A video goes through the same :class:`~stream.recognizer.Recognizer` as ``emostream run``, with
the same cadence (detection every 3rd frame, quality every 5th per track) and the same tracker
smoothing, so its labels and boxes are the ones ``run`` would publish for that file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stream.errors import SourceError
from stream.faces.detector import FaceDetector
from stream.faces.tracker import IouTracker
from stream.family import resolve_model_dir
from stream.models import Models, load_models
from stream.publish.closable import Closable
from stream.recognizer import VIDEO_DETECT_EVERY, VIDEO_QUALITY_EVERY, Face, Recognizer
from stream.sources import open_source


@dataclass(frozen=True)
class FaceResult:
    """One face: its track id, normalised box ``(x, y, w, h)``, label and all probabilities."""

    track: int
    box: tuple[float, float, float, float]
    score: float
    label: str
    confidence: float
    probs: dict[str, float]
    quality: float
    uncertain: bool

    @classmethod
    def of(cls, face: Face, labels: tuple[str, ...]) -> FaceResult:
        """From the same message ``run`` publishes, so both round and label alike."""
        message = face.to_message(labels, send_code=False)
        return cls(
            track=message["id"],
            box=tuple(message["box"]),  # type: ignore[arg-type]
            score=message["score"],
            label=message["label"],
            confidence=message["confidence"],
            probs=message["probs"],
            quality=message["quality"],
            uncertain=message["uncertain"],
        )


@dataclass(frozen=True)
class FrameResult:
    """One frame of a source: its index, its time in the recording (None for images), its faces."""

    source: str
    frame: int
    time_s: float | None
    faces: list[FaceResult]


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
    ) -> None:
        model_dir = resolve_model_dir(model, models)
        self.models: Models = load_models(model_dir, delegate, threads)
        self.labels: tuple[str, ...] = self.models.manifest.labels
        self.detector = FaceDetector(detector, min_score, max_faces)
        self._video_options = {
            "min_quality": min_quality,
            "detect_every": detect_every,
            "quality_every": quality_every,
        }
        self._smoothing = smoothing
        self._still = Recognizer(self.models, self.detector, min_quality=min_quality)

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
        source = open_source(str(path))
        recognizer = Recognizer(
            self.models, self.detector, IouTracker(alpha=self._smoothing), **self._video_options
        )
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
        from stream.analysis.rows import frame_rows, to_table

        rows = [row for frame in self.video(path) for row in frame_rows(frame, self.labels)]
        return to_table(rows, self.labels)

    def close(self) -> None:
        self.detector.close()
