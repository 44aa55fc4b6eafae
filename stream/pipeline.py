"""The live loop: read a frame, recognise its faces, publish one message, and a heartbeat a second.

One bad frame is logged and counted, never fatal; publishing never blocks (the publisher drops
and counts instead); the source decides the buffering (every frame from a file, the newest from
a live stream). ``stop()`` may be called from any thread or a signal handler.

Where the recognizer asks for it (:attr:`Recognizer.foresight`: a file on the fixed detection
schedule) and the source holds decoded frames (a file read with ``--read-ahead``), the next
detection frame goes to the detector up to three frames early, straight from those frames
(:meth:`VideoSource.peek`), so that detection runs while the frames before it are labelled.
Nothing is read early for it: reading frames early would make them wait in the pipeline too, on
top of the source's own buffer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from stream.annotate import annotate
from stream.outputs import Recorder, Window
from stream.publish import schema
from stream.recognizer import Recognizer
from stream.sources import Frame, SourceState, VideoSource

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.5


class Sink(Protocol):
    """Where messages go: the ZeroMQ publisher, or anything with the same two members."""

    @property
    def dropped(self) -> int: ...

    def send(self, topic: bytes, payload: bytes) -> bool: ...


@dataclass(frozen=True)
class PipelineOptions:
    camera_id: str
    send_codes: bool = False
    send_mesh: bool = False
    stats_interval: float = 1.0
    max_frames: int | None = None
    max_seconds: float | None = None
    preview_fps: float = 0.0
    preview_width: int = 480
    blur_faces: bool = False
    """Blur faces in what leaves as pictures: the recording, the window and preview JPEGs."""
    restarts: int = 0
    """Times a site's supervisor restarted this camera's process before this run."""


@dataclass
class Counters:
    frames: int = 0
    faces: int = 0
    errors: int = 0
    published: int = 0


class FpsMeter:
    """Frames per second over a sliding window, so the heartbeat shows the current rate.

    Locked: the pipeline ticks it while a metrics scrape may read it from another thread.
    """

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def _trim(self, now: float) -> None:
        while self._stamps and self._stamps[0] < now - self.window_s:
            self._stamps.popleft()

    def tick(self, now: float) -> None:
        with self._lock:
            self._stamps.append(now)
            self._trim(now)

    def rate(self, now: float) -> float:
        with self._lock:
            self._trim(now)
            if len(self._stamps) < 2:
                return len(self._stamps) / self.window_s
            return (len(self._stamps) - 1) / max(self._stamps[-1] - self._stamps[0], 1e-6)


def foresee_waiting(source: VideoSource, recognizer: Recognizer) -> None:
    """Hand the recognizer the detection frames it asks for that the source already holds
    decoded, without reading them: they are labelled in their turn, and wait no longer for it."""
    while distance := recognizer.foresight:
        upcoming = source.peek(distance)
        if upcoming is None:
            return
        recognizer.foresee(upcoming.image, distance)


class Pipeline:
    def __init__(
        self,
        source: VideoSource,
        recognizer: Recognizer,
        sink: Sink,
        options: PipelineOptions,
        recorder: Recorder | None = None,
        window: Window | None = None,
        on_frame: Callable[[dict[str, float]], None] | None = None,
    ) -> None:
        """``on_frame`` gets each published frame's stage latencies in ms (for metrics)."""
        self.source = source
        self.recognizer = recognizer
        self.sink = sink
        self.options = options
        self.recorder = recorder
        self.window = window
        self.on_frame = on_frame
        self.counters = Counters()
        self._stop = threading.Event()
        self._fps = FpsMeter()
        self._started = time.monotonic()
        self._frame_topic = schema.frame_topic(options.camera_id)
        self._stats_topic = schema.stats_topic(options.camera_id)
        self._preview_topic = schema.preview_topic(options.camera_id)
        self._next_preview = 0.0

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> Counters:
        """Process until the source ends, a limit is reached or :meth:`stop` is called."""
        self._started = time.monotonic()
        next_stats = self._started
        end = None if self.options.max_seconds is None else self._started + self.options.max_seconds
        while not self._stop.is_set():
            now = time.monotonic()
            if end is not None and now >= end:
                break
            if now >= next_stats:
                self.publish_stats()
                next_stats = now + self.options.stats_interval
            try:
                frame = self.source.read(timeout=READ_TIMEOUT_S)
            except TimeoutError:
                continue
            if frame is None:
                break
            foresee_waiting(self.source, self.recognizer)
            self.process(frame)
            if self.options.max_frames and self.counters.frames >= self.options.max_frames:
                break
            if self.window is not None and self.window.closed:
                break
        self.publish_stats()
        return self.counters

    def process(self, frame: Frame) -> None:
        """Recognise and publish one frame; a failure is logged and counted, not raised.

        Capture → publish counts the time the frame waited after it was ready (``ready_at``).
        """
        start = time.perf_counter()
        waited_ms = max(0.0, (start - frame.ready_at) * 1000.0)
        try:
            result = self.recognizer.recognize(frame.image)
        except Exception:
            self.counters.errors += 1
            log.exception("frame %d could not be processed; skipping it", frame.index)
            return
        self.counters.frames += 1
        self.counters.faces += len(result.faces)
        self._fps.tick(time.monotonic())
        labels = self.recognizer.labels
        height, width = frame.image.shape[:2]
        options = self.options
        faces = [
            face.to_message(labels, options.send_codes, (width, height), options.send_mesh)
            for face in result.faces
        ]
        latency = {"capture": frame.capture_ms, **result.latency_ms}
        latency["total"] = frame.capture_ms + waited_ms + (time.perf_counter() - start) * 1000.0
        message = schema.frame_message(
            self.options.camera_id,
            frame.index,
            frame.captured_at,
            time.time(),
            width,
            height,
            faces,
            latency,
        )
        if self.sink.send(self._frame_topic, schema.encode(message)):
            self.counters.published += 1
        if self.on_frame is not None:
            self.on_frame(latency)
        preview_due = self.options.preview_fps > 0 and time.monotonic() >= self._next_preview
        if self.recorder is not None or self.window is not None or preview_due:
            annotated = annotate(frame.image, result.faces, labels, self.options.blur_faces)
            if self.recorder is not None:
                self.recorder.write(annotated)
            if self.window is not None:
                self.window.show(annotated)
            if preview_due:
                self._next_preview = time.monotonic() + 1.0 / self.options.preview_fps
                self.sink.send(self._preview_topic, self._jpeg(annotated))

    def _jpeg(self, image: np.ndarray) -> bytes:
        """A small JPEG for dashboards: width capped, quality modest, it is only a preview."""
        height, width = image.shape[:2]
        if width > self.options.preview_width:
            size = (self.options.preview_width, round(height * self.options.preview_width / width))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes()

    def stats(self) -> dict[str, Any]:
        """The heartbeat's numbers now; safe to call from another thread (a metrics scrape)."""
        now = time.monotonic()
        state = self.source.state
        return {
            "fps": self._fps.rate(now),
            "frames": self.counters.frames,
            "faces": self.counters.faces,
            "errors": self.counters.errors,
            "dropped_source": self.source.dropped,
            "dropped_socket": self.sink.dropped,
            "reconnects": self.source.reconnects,
            "restarts": self.options.restarts,
            "uptime_s": now - self._started,
            "source_state": state.value if isinstance(state, SourceState) else str(state),
        }

    def publish_stats(self) -> None:
        stats = self.stats()
        message = schema.stats_message(
            camera=self.options.camera_id,
            time=time.time(),
            fps=stats["fps"],
            frames=stats["frames"],
            dropped_source=stats["dropped_source"],
            dropped_socket=stats["dropped_socket"],
            reconnects=stats["reconnects"],
            restarts=stats["restarts"],
            uptime_s=stats["uptime_s"],
            source_state=stats["source_state"],
        )
        self.sink.send(self._stats_topic, schema.encode(message))
