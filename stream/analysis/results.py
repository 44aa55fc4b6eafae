"""What analysing a recording gives back: one :class:`FrameResult` per frame, one
:class:`FaceResult` per face in it.

The ``Analyzer`` (:mod:`stream.analysis.api`) makes them and the table writer
(:mod:`stream.analysis.rows`) reads them; both import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from stream.recognizer import Face


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
            box=tuple(message["box"]),
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
