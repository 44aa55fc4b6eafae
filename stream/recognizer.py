"""One frame → recognised faces: detect, crop, encode, classify, score quality, read the face
mesh, track, smooth.

Shared by the live pipeline, ``emostream evaluate --detect`` and the benchmarks, so all three
measure the same code. Per-stage wall times are returned with every result.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from stream.behind import run_behind
from stream.faces.ahead import FIXED, SCHEDULES, DetectorThread
from stream.faces.crop import crop_face
from stream.faces.detector import Detection, FaceDetector
from stream.faces.geometry import FaceGeometry, read_geometry
from stream.faces.mesh import FaceMesh, Mesh
from stream.faces.tracker import IouTracker, Track
from stream.models import Models

log = logging.getLogger(__name__)


@dataclass
class Face:
    id: int
    detection: Detection
    probs: np.ndarray  # smoothed over the track
    quality: float
    uncertain: bool
    code: np.ndarray
    mesh: Mesh | None = None
    """The last face mesh read on this face; None where the mesh is off or saw no face."""
    geometry: FaceGeometry | None = None
    """What that mesh says: pose, eyes, mouth, frontal."""

    def to_message(
        self,
        labels: tuple[str, ...],
        send_code: bool,
        frame_size: tuple[int, int] | None = None,
        send_mesh: bool = False,
    ) -> dict[str, Any]:
        """The face as the schema has it; ``frame_size`` (width, height) scales a sent mesh."""
        best = int(np.argmax(self.probs))
        geometry = self.geometry
        message: dict[str, Any] = {
            "id": self.id,
            "box": [round(float(v), 5) for v in self.detection.box],
            "score": round(self.detection.score, 4),
            "eyes": [
                [round(float(v), 5) for v in self.detection.right_eye],
                [round(float(v), 5) for v in self.detection.left_eye],
            ],
            "label": labels[best],
            "confidence": round(float(self.probs[best]), 4),
            "probs": {name: round(float(p), 4) for name, p in zip(labels, self.probs, strict=True)},
            "quality": round(self.quality, 4),
            "uncertain": self.uncertain,
            "pose": None,
            "eyes_open": None,
            "mouth_open": None,
            "frontal": None,
            "gaze": None,
        }
        if geometry is not None:
            message["pose"] = {
                "yaw": round(geometry.yaw, 1),
                "pitch": round(geometry.pitch, 1),
                "roll": round(geometry.roll, 1),
            }
            message["eyes_open"] = [round(v, 3) for v in geometry.eyes_open]
            message["mouth_open"] = round(geometry.mouth_open, 3)
            message["frontal"] = geometry.frontal
            if geometry.gaze is not None:
                yaw, pitch = geometry.gaze
                message["gaze"] = {"yaw": round(yaw, 1), "pitch": round(pitch, 1)}
        if send_code:
            message["code"] = self.code.astype(int).tolist()
        if send_mesh and self.mesh is not None and frame_size is not None:
            width, height = frame_size
            scale = np.array([width, height, width], np.float32)
            message["mesh"] = np.round(self.mesh.points / scale, 5).tolist()
        return message


@dataclass
class Recognition:
    faces: list[Face]
    latency_ms: dict[str, float] = field(default_factory=dict)


def _ms(start: float, end: float) -> float:
    return (end - start) * 1000.0


def classify_crops(
    models: Models, crops: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Crops → (codes, probabilities), with the encode and head times.

    With ``flip_average`` in the manifest, each crop's mirror image is classified in the same
    batch and the two probability vectors averaged: expressions are left-right symmetric, and
    the averaged vote is steadier than either half.
    """
    n = len(crops)
    t0 = time.perf_counter()
    batch = np.concatenate([crops, crops[:, :, ::-1]]) if models.manifest.flip_average else crops
    all_codes = models.encoder.encode(batch)
    codes = all_codes[:n]
    t1 = time.perf_counter()
    probs = models.head.probs(all_codes)
    if len(probs) > n:
        probs = (probs[:n] + probs[n:]) / 2
    t2 = time.perf_counter()
    return codes, probs, {"encode": _ms(t0, t1), "head": _ms(t1, t2)}


def _with_geometry(mesh: Mesh | None) -> tuple[Mesh | None, FaceGeometry | None]:
    return mesh, read_geometry(mesh.points, mesh.irises) if mesh is not None else None


FORESIGHT = 3
"""At most how many frames ahead the fixed schedule takes its detection frames (see
:attr:`Recognizer.foresight`). At ``run``'s cadence of one detection in three frames, the next
detection frame is handed over as the one before it is labelled, so the detector always has the
next frame in hand. On the sample clip, pre-decoded, on an AVX2 EPYC, frames took a median 2.03,
2.03 and 1.94 ms at 3 against 2.19, 2.12 and 2.05 ms at 2 (three runs of 5-10 alternated
rounds); 4 was no better than 3."""

VIDEO_DETECT_EVERY = 3
VIDEO_QUALITY_EVERY = 5
VIDEO_LANDMARKS_EVERY = 10
# ``emostream run``'s cadence on video (see Recognizer). MediaPipe's detector costs about 3.5 ms a
# call on an AVX2 core, four times nano's encoder and head: at 24-30 fps, every 3rd frame is
# 8-10 detections a second. On the five clips in ../shared/videos the top labels agree with
# detecting every frame as often at 3 as at 2 (97.2 % and 97.0 % of 472 frames on the longest, all
# frames on the others) and the held boxes overlap the fresh ones by IoU 0.975 on average;
# benchmarks/speed/versus_fer.py reports that agreement with every speed figure. The face mesh
# costs about 1.4 ms a face (float, one thread, AVX-512 EPYC): every 5th frame took `run` from
# 1642 to 1045 frames/s there, and float runs slower again on AVX2. Every 10th frame (three
# readings a second at 30 fps) follows a head turning and keeps the ≥ 10× fer floor in reach on
# an AVX2 CPU without VNNI, where nano's pipeline left about 18 % to spare.


class Recognizer:
    """Runs the per-frame steps; on a video, the two dearest can skip frames.

    ``detect_every`` N reuses the last frame's detections on N − 1 frames out of N (faces move
    little in 1/30 s, and every frame is still cropped, encoded and classified afresh);
    ``quality_every`` N rescores a tracked face's reconstruction quality every N frames, since it
    changes with pose and lighting, not from frame to frame. Both default to every frame.

    ``mesh`` reads each face's landmarks (pose, eyes, mouth; :mod:`stream.faces.geometry`) every
    ``mesh_every`` frames of its track, or on every frame without a tracker; a face outside the
    frontal range is marked uncertain, since the expression models were not made for it.

    ``ahead`` moves detection to a thread of its own (:mod:`stream.faces.ahead`): ``"fixed"``
    labels frame k with the detection of frame N·((k − 1) // N), the same on every run of a file;
    ``"freshest"`` with the newest detection finished, for live sources. Without it, detection
    runs inline on the frames it is due, as ``analyze`` and ``evaluate`` do. :meth:`close` stops
    the thread. A caller that holds frames beyond the one in hand (a file read ahead) hands
    the fixed schedule its detection frames up to :data:`FORESIGHT` frames early through
    :meth:`foresee`, so the frame after each has its boxes ready.

    With ``ahead`` and a tracker the face mesh leaves the frame's path too: a reading due on
    frame k starts on a thread of its own as soon as the face is tracked, and is published from
    frame k + 1 on (frame k keeps the track's previous reading), so a mesh no longer holds up
    the frame it is read on. Frame k + 1 waits for it if need be, so which reading a frame
    carries depends only on frame numbers, never on timing. A track's first reading is waited
    for on its own frame: a new face has its pose at once. Both threads run behind the
    caller's (:mod:`stream.behind`), as should the detector's own (``FaceDetector(behind=True)``).
    """

    def __init__(
        self,
        models: Models,
        detector: FaceDetector,
        tracker: IouTracker | None = None,
        min_quality: float | None = None,
        detect_every: int = 1,
        quality_every: int = 1,
        ahead: str | None = None,
        mesh: FaceMesh | None = None,
        mesh_every: int = 1,
    ) -> None:
        if detect_every < 1 or quality_every < 1 or mesh_every < 1:
            raise ValueError("detect_every, quality_every and mesh_every must be at least 1")
        if ahead is not None and ahead not in SCHEDULES:
            raise ValueError(f"ahead must be one of {', '.join(SCHEDULES)}")
        self.models = models
        self.detector = detector
        self.tracker = tracker
        self.labels = models.manifest.labels
        self.min_quality = models.manifest.uncertain_below if min_quality is None else min_quality
        self.detect_every = detect_every
        self.quality_every = quality_every
        self.ahead = ahead
        self.mesh = mesh
        self.mesh_every = mesh_every
        self._frame = 0
        self._detections: list[Detection] = []
        self._used = -1  # the frame whose detections are in use (with ``ahead``)
        self._submitted = -detect_every  # the last frame handed to the detector thread
        self._foreseen: set[int] = set()  # frames handed over early through ``foresee``
        self._thread = DetectorThread(self.detector.detect_bgr) if ahead is not None else None
        self._mesh_thread = (
            ThreadPoolExecutor(1, thread_name_prefix="face-mesh", initializer=run_behind)
            if ahead is not None and mesh is not None and tracker is not None
            else None
        )

    def close(self) -> None:
        """Stop the detector and mesh threads, if any; the models belong to the caller."""
        if self._thread is not None:
            self._thread.close()
            self._thread = None
        if self._mesh_thread is not None:
            self._mesh_thread.shutdown(wait=True, cancel_futures=True)
            self._mesh_thread = None

    @property
    def foresight(self) -> int:
        """How many frames past the next one to recognise lies the frame a caller that holds
        frames ahead should hand to :meth:`foresee` now, if it holds it; 0: none.

        Fixed schedule only: the nearest detection frame within :data:`FORESIGHT` frames that has
        not been handed over yet. Its boxes are first needed one frame after it; handed over three
        frames early, the detection hides behind four frames' work instead of one, more than
        MediaPipe's call takes on a small CPU whose other core also reads the face mesh.
        """
        if self._thread is None or self.ahead != FIXED:
            return 0
        for distance in range(1, FORESIGHT + 1):
            upcoming = self._frame + distance
            if upcoming % self.detect_every == 0 and upcoming not in self._foreseen:
                return distance
        return 0

    def foresee(self, bgr: np.ndarray, distance: int) -> None:
        """Start detecting on the frame ``distance`` frames past the next one to recognise.

        Which detection a frame uses does not change, only when it starts, so the output is the
        same as without it. A frame that :attr:`foresight` does not ask for is ignored.
        """
        if distance < 1 or distance != self.foresight:
            return
        assert self._thread is not None
        number = self._frame + distance
        self._foreseen.add(number)
        self._thread.submit(number, bgr)

    def crops(self, bgr: np.ndarray, detections: list[Detection]) -> np.ndarray:
        size = self.models.manifest.input_size
        crop = self.models.manifest.crop
        return np.stack([crop_face(bgr, det, crop, size) for det in detections])

    def _detect(self, bgr: np.ndarray) -> list[Detection]:
        number, every = self._frame, self.detect_every
        self._frame += 1
        if self._thread is None:
            if number % every == 0:
                self._detections = self.detector.detect_bgr(bgr)
            return self._detections
        if self.ahead == FIXED:
            if number % every == 0 and number not in self._foreseen:
                self._thread.submit(number, bgr)
            self._foreseen.discard(number)
            self._use(every * ((number - 1) // every) if number else 0)
        else:
            if number - self._submitted >= every and self._thread.idle:
                self._thread.submit(number, bgr)
                self._submitted = number
            newest = self._thread.newest()
            if newest is not None and newest[0] > self._used:
                self._detections, self._used = newest[1], newest[0]
                self._thread.forget_before(newest[0])
            elif self._used < 0:  # the very first frame: nothing to label with yet
                self._use(self._submitted)
        return self._detections

    def _use(self, number: int) -> None:
        """Label with frame ``number``'s detections from now on, waiting for them if need be.

        A detection that failed fails the one frame that first needs it; the frames after it
        keep the boxes they had.
        """
        if number == self._used or self._thread is None:
            return
        self._used = number
        self._detections = self._thread.wait(number)
        self._thread.forget_before(number)

    def _quality(
        self, crops: np.ndarray, codes: np.ndarray, tracks: list[Track] | None
    ) -> np.ndarray:
        scorer = self.models.quality
        if tracks is None:
            return scorer.score(crops, codes)
        for track in tracks:
            track.quality_age += 1
        due = [
            i
            for i, track in enumerate(tracks)
            if track.quality is None or track.quality_age >= self.quality_every
        ]
        if due:
            for i, q in zip(due, scorer.score(crops[due], codes[due]), strict=True):
                tracks[i].quality, tracks[i].quality_age = float(q), 0
        return np.array([track.quality for track in tracks])

    def _read_mesh(self, bgr: np.ndarray, det: Detection) -> Mesh | None:
        """One face's mesh; a failure costs that face its pose, never its label."""
        assert self.mesh is not None
        try:
            return self.mesh.run(bgr, det)
        except (ValueError, RuntimeError, cv2.error) as exc:
            log.debug("the face mesh failed on a face: %s", exc)
            return None

    def _reading(self, bgr: np.ndarray, det: Detection) -> tuple[Mesh | None, FaceGeometry | None]:
        return _with_geometry(self._read_mesh(bgr, det))

    def _start_meshes(
        self, bgr: np.ndarray, detections: list[Detection], tracks: list[Track] | None
    ) -> None:
        """Start the readings due on this frame on the mesh thread (with ``ahead`` only)."""
        if self._mesh_thread is None or tracks is None:
            return
        number = self._frame - 1
        for det, track in zip(detections, tracks, strict=True):
            if self._mesh_due(track):
                reading = self._mesh_thread.submit(self._reading, bgr, det)
                track.mesh_pending.append((number, reading))

    def _mesh_due(self, track: Track) -> bool:
        """Whether a reading of ``track`` starts on this frame: its first, or ``mesh_every``
        frames after the last one started; counts the frame either way."""
        track.mesh_age += 1
        started = track.meshed or bool(track.mesh_pending)
        if started and track.mesh_age < self.mesh_every:
            return False
        track.mesh_age = 0
        return True

    def _meshes(
        self, bgr: np.ndarray, detections: list[Detection], tracks: list[Track] | None
    ) -> list[tuple[Mesh | None, FaceGeometry | None]]:
        """Each face's mesh and its reading: fresh where due, else its track's last."""
        if self.mesh is None:
            return [(None, None)] * len(detections)
        if tracks is None:
            return [self._reading(bgr, det) for det in detections]
        if self._mesh_thread is not None:
            number = self._frame - 1
            for track in tracks:
                pending = track.mesh_pending
                while pending and (pending[0][0] < number or not track.meshed):
                    track.mesh, track.geometry = pending.popleft()[1].result()
                    track.meshed = True
            return [(track.mesh, track.geometry) for track in tracks]
        for det, track in zip(detections, tracks, strict=True):
            if self._mesh_due(track):
                track.mesh, track.geometry = self._reading(bgr, det)
                track.meshed = True
        return [(track.mesh, track.geometry) for track in tracks]

    def recognize(self, bgr: np.ndarray) -> Recognition:
        t0 = time.perf_counter()
        detections = self._detect(bgr)
        t1 = time.perf_counter()
        latency = {"detect": _ms(t0, t1)}
        if not detections:
            if self.tracker is not None:
                self.tracker.update([])
            latency.update(crop=0.0, encode=0.0, head=0.0, quality=0.0, landmarks=0.0)
            return Recognition([], latency)
        tracker = self.tracker
        tracks = tracker.update([d.box for d in detections]) if tracker is not None else None
        self._start_meshes(bgr, detections, tracks)
        tracked = time.perf_counter()
        crops = self.crops(bgr, detections)
        latency["crop"] = _ms(tracked, time.perf_counter())
        codes, probs, stage_ms = classify_crops(self.models, crops)
        latency.update(stage_ms)
        t2 = time.perf_counter()
        quality = self._quality(crops, codes, tracks)
        t3 = time.perf_counter()
        latency["quality"] = _ms(t2, t3)
        meshes = self._meshes(bgr, detections, tracks)
        latency["landmarks"] = _ms(t3, time.perf_counter())
        faces = []
        for i, det in enumerate(detections):
            smoothed = probs[i]
            face_id = i + 1
            if tracks is not None and tracker is not None:
                smoothed = tracks[i].smooth(probs[i], tracker.alpha)
                face_id = tracks[i].id
            q = float(quality[i])
            mesh, geometry = meshes[i]
            uncertain = q < self.min_quality or (geometry is not None and not geometry.frontal)
            faces.append(Face(face_id, det, smoothed, q, uncertain, codes[i], mesh, geometry))
        return Recognition(faces, latency)
