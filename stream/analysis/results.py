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
    """One face: its track id, normalised box ``(x, y, w, h)``, label and all probabilities, and
    what the face mesh read (None where it is off or saw no face)."""

    track: int
    box: tuple[float, float, float, float]
    score: float
    label: str
    confidence: float
    probs: dict[str, float]
    quality: float
    uncertain: bool
    pose: tuple[float, float, float] | None = None
    """Yaw, pitch and roll in degrees, as the schema defines them."""
    eyes_open: tuple[float, float] | None = None
    mouth_open: float | None = None
    frontal: bool | None = None
    gaze: tuple[float, float] | None = None
    """Yaw and pitch in degrees of where the eyes point; only with ``gaze`` on."""

    @classmethod
    def of(cls, face: Face, labels: tuple[str, ...]) -> FaceResult:
        """From the same message ``run`` publishes, so both round and label alike."""
        message = face.to_message(labels, send_code=False)
        pose = message["pose"]
        eyes = message["eyes_open"]
        gaze = message["gaze"]
        return cls(
            track=message["id"],
            box=tuple(message["box"]),
            score=message["score"],
            label=message["label"],
            confidence=message["confidence"],
            probs=message["probs"],
            quality=message["quality"],
            uncertain=message["uncertain"],
            pose=(pose["yaw"], pose["pitch"], pose["roll"]) if pose is not None else None,
            eyes_open=(eyes[0], eyes[1]) if eyes is not None else None,
            mouth_open=message["mouth_open"],
            frontal=message["frontal"],
            gaze=(gaze["yaw"], gaze["pitch"]) if gaze is not None else None,
        )


@dataclass(frozen=True)
class FrameResult:
    """One frame of a source: its index, its time in the recording (None for images), its faces."""

    source: str
    frame: int
    time_s: float | None
    faces: list[FaceResult]
