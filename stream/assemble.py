"""One place that turns plain options into a running pipeline: source → faces → codes → labels
→ publish, with its metrics and local outputs.

Nothing here reads argv. ``run`` and ``demo`` parse their options and hand a
:class:`PipelineConfig` to :func:`run_pipeline`; a site's camera process gets its config from the
site file; the ``Analyzer`` shares :func:`open_models`, :func:`open_detector`, :func:`open_mesh`
and :func:`video_recognizer`. So a command module stays a thin layer over this one, as uvicorn's CLI
is over its ``Config`` and ``Server``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import cv2

from stream.errors import EmostreamError
from stream.faces.ahead import FIXED, FRESHEST
from stream.faces.detector import FaceDetector
from stream.faces.mesh import FaceMesh
from stream.faces.tracker import IouTracker
from stream.family import resolve_model_dir
from stream.metrics import MetricsServer, PipelineMetrics
from stream.models import Manifest, Models, load_models
from stream.outputs import Recorder, Window
from stream.pipeline import Pipeline, PipelineOptions
from stream.publish.publisher import Publisher
from stream.recognizer import (
    VIDEO_DETECT_EVERY,
    VIDEO_LANDMARKS_EVERY,
    VIDEO_QUALITY_EVERY,
    Recognizer,
)
from stream.sources import ReconnectPolicy, SourceKind, open_source

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5556"
LIGHT_MACS = 100_000_000
"""A member's face pass up to this many MACs (``nano``, ``small``) runs on one thread by default
with detection ahead on two cores (:meth:`RecognizerOptions.model_threads`)."""
LIVE = frozenset({SourceKind.CAMERA, SourceKind.RTSP, SourceKind.HTTP})
"""Sources whose frames come at their own pace: they get the freshest detection."""


@dataclass(frozen=True)
class RecognizerOptions:
    """Which models, where they run, and how faces are found and followed."""

    model: str | None = None
    """A member of the installed family; None: the family's default (or ``models``)."""
    models: Path | None = None
    """A model folder of its own, instead of a family member."""
    delegate: str = "cpu"
    threads: int | None = None
    """CPU threads for the expression models; None: see :meth:`model_threads`."""
    detector: str = "short"
    min_score: float = 0.5
    max_faces: int = 8
    smoothing: float = 0.4
    detect_every: int = VIDEO_DETECT_EVERY
    quality_every: int = VIDEO_QUALITY_EVERY
    min_quality: float | None = None
    landmarks: int = VIDEO_LANDMARKS_EVERY
    """Every how many frames of a track the face mesh runs; 0: never (no pose, eyes, mouth)."""
    gaze: bool = False
    """Also run the iris model on each mesh's eyes, for where they point (``gaze``)."""
    detection: str = "ahead"
    """``ahead``: on a thread of its own, while frames are labelled with the boxes in hand
    (:mod:`stream.faces.ahead`); ``inline``: on each frame it is due, which that frame waits for."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any], **overrides: Any) -> Self:
        """The fields named in ``options`` (say ``vars(args)``), others at their defaults."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in names} | overrides)

    def model_threads(self, macs_per_face: int | None) -> int:
        """``threads``, or by default one for a light member with detection ahead on a CPU of
        two cores, else two.

        Ahead, the detector's thread and the face mesh's keep the second core of a small CPU
        busy: a light member's second thread then mostly spins waiting for it (see
        ``benchmarks.speed.threads``), while a heavy one (``base``, 230 M MACs a face) still
        gains from it (6.5× fer's frame rate with two threads against 4.4× with one, on a 2-core
        AVX2 EPYC). ``macs_per_face`` is the member's manifest's; None counts as heavy.
        """
        if self.threads is not None:
            return self.threads
        light = macs_per_face is not None and macs_per_face <= LIGHT_MACS
        return 1 if self.ahead_on_two_cores and light else 2

    @property
    def detects_ahead(self) -> bool:
        """Detection on a thread of its own (``detection = "ahead"``), not on the frame's."""
        return self.detection == "ahead"

    @property
    def ahead_on_two_cores(self) -> bool:
        """Detection ahead on a CPU of at most two usable cores, whose second core the
        detector's and the face mesh's threads keep busy: one thread then suits the rest."""
        return self.detects_ahead and usable_cores() <= 2


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class PipelineConfig(RecognizerOptions):
    """Everything one camera's pipeline needs, as plain values with their defaults in one place."""

    source: str = "demo"
    camera_id: str = "demo"
    publish: str = DEFAULT_ENDPOINT
    connect: str | None = None
    """Connect into a broker's frontend here instead of binding ``publish``."""
    send_codes: bool = False
    send_mesh: bool = False
    sndhwm: int = 100
    wait_subscribers: int = 0
    wait_timeout: float | None = None
    preview_fps: float = 0.0
    curve_secret: Path | None = None
    curve_clients: Path | None = None
    metrics: tuple[str, int] | None = None
    record: Path | None = None
    show: bool = False
    blur_faces: bool = False
    max_frames: int | None = None
    max_seconds: float | None = None
    realtime: bool = False
    loop: bool = False
    read_ahead: int = 0
    """Frames a file decodes ahead of the pipeline (``FileSource``'s ``prefetch``): 0 by
    default, so that no decoded frame waits in a queue and capture → publish counts only a
    frame's own path, as a camera's."""
    reconnect_attempts: int | None = None
    """Tries per outage of a live source; None: forever."""
    rtsp_transport: str = "tcp"
    restarts: int = 0
    """How often a site's supervisor has restarted this camera, for its heartbeat."""


def open_models(options: RecognizerOptions) -> tuple[Path, Models]:
    model_dir = resolve_model_dir(options.model, options.models)
    threads = options.model_threads(member_macs(model_dir))
    return model_dir, load_models(model_dir, options.delegate, threads)


def member_macs(model_dir: Path) -> int | None:
    """The multiply-accumulates a face costs, as the folder's manifest states them."""
    macs = Manifest.load(model_dir).raw.get("cost", {}).get("macs_per_face")
    return int(macs) if isinstance(macs, int | float) else None


def open_detector(options: RecognizerOptions) -> FaceDetector:
    """The detector; with detection ahead its threads run behind the frame's (stream.behind)."""
    return FaceDetector(
        options.detector,
        options.min_score,
        options.max_faces,
        behind=options.detects_ahead,
    )


def open_mesh(options: RecognizerOptions) -> FaceMesh | None:
    """The face mesh, or None with ``landmarks`` off (its folder is then never read)."""
    if options.gaze and not options.landmarks:
        raise EmostreamError("--gaze needs the face mesh: drop --landmarks off")
    return FaceMesh(gaze=options.gaze) if options.landmarks else None


def video_recognizer(
    models: Models,
    detector: FaceDetector,
    mesh: FaceMesh | None,
    options: RecognizerOptions,
    live: bool = False,
) -> Recognizer:
    """A recognizer that follows faces from frame to frame, as ``run`` and ``analyze`` do.

    With ``detection = "ahead"`` a file gets the fixed schedule (the same output every run) and
    a ``live`` source the freshest detection; close the recognizer to stop its threads. Ahead
    on a CPU of two cores, OpenCV's own pool is cut to one thread for the whole process: the
    detector's and the face mesh's threads already keep both cores busy, and OpenCV's helpers
    would only contend with them (see :meth:`RecognizerOptions.model_threads`).
    """
    ahead = None
    if options.detects_ahead:
        ahead = FRESHEST if live else FIXED
    if options.ahead_on_two_cores:
        cv2.setNumThreads(1)
    return Recognizer(
        models,
        detector,
        IouTracker(alpha=options.smoothing),
        min_quality=options.min_quality,
        detect_every=options.detect_every,
        quality_every=options.quality_every,
        ahead=ahead,
        mesh=mesh,
        mesh_every=max(options.landmarks, 1),
    )


def build_publisher(config: PipelineConfig) -> Publisher:
    return Publisher(
        endpoint=config.connect or config.publish,
        connect=bool(config.connect),
        sndhwm=config.sndhwm,
        wait_subscribers=config.wait_subscribers,
        curve_secret=config.curve_secret,
        curve_clients=config.curve_clients,
    )


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``stop``: a pipeline ends after its current frame and a site stops
    its cameras, so outputs close cleanly."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_pipeline(config: PipelineConfig) -> int:
    """Open everything ``config`` asks for, run until the source ends or a signal, close it all."""
    if config.wait_subscribers < 0:
        raise EmostreamError("--wait-subscribers cannot be negative")
    if config.send_mesh and not config.landmarks:
        raise EmostreamError("--send-mesh needs the face mesh: drop --landmarks off")
    with contextlib.ExitStack() as stack:
        window = Window(f"emostream {config.camera_id}") if config.show else None
        if window is not None:
            stack.callback(window.close)
        model_dir, models = open_models(config)
        publisher = build_publisher(config)
        stack.callback(publisher.close)
        source = open_source(
            config.source,
            realtime=config.realtime,
            loop=config.loop,
            read_ahead=config.read_ahead,
            reconnect=ReconnectPolicy(max_attempts=config.reconnect_attempts),
            transport=config.rtsp_transport,
        )
        stack.callback(source.close)
        recorder = Recorder(config.record, source.info.fps or 25.0) if config.record else None
        if recorder is not None:
            stack.callback(recorder.close)
        detector = open_detector(config)
        stack.callback(detector.close)
        live = source.info.kind in LIVE
        recognizer = video_recognizer(models, detector, open_mesh(config), config, live)
        stack.callback(recognizer.close)
        metrics = (
            PipelineMetrics(config.camera_id, lambda: pipeline.stats()) if config.metrics else None
        )
        pipeline = Pipeline(
            source,
            recognizer,
            publisher,
            PipelineOptions(
                config.camera_id,
                send_codes=config.send_codes,
                send_mesh=config.send_mesh,
                max_frames=config.max_frames,
                max_seconds=config.max_seconds,
                preview_fps=config.preview_fps,
                blur_faces=config.blur_faces,
                restarts=config.restarts,
            ),
            recorder,
            window,
            on_frame=metrics.frame if metrics else None,
        )
        if metrics is not None and config.metrics is not None:
            metrics.describe_model(
                models=str(model_dir),
                encoder_sha256=models.manifest.models["encoder"]["sha256"][:12],
                detector=config.detector,
                delegate=config.delegate,
            )
            stack.callback(MetricsServer(metrics.registry, config.metrics).close)
        with stop_on_signals(pipeline.stop):
            if config.wait_subscribers:
                log.info(
                    "waiting for %d subscriber(s) on %s",
                    config.wait_subscribers,
                    publisher.endpoint,
                )
                joined = publisher.wait_for_subscribers(
                    config.wait_subscribers,
                    config.wait_timeout,
                    cancelled=lambda: pipeline.stopping,
                )
                if not joined:
                    if pipeline.stopping:
                        return 130
                    raise EmostreamError(
                        f"no {config.wait_subscribers} subscriber(s) within {config.wait_timeout} s"
                    )
            log.info(
                "publishing %s on %s as emostream/%s",
                config.source,
                publisher.endpoint,
                config.camera_id,
            )
            counters = pipeline.run()
        log.info(
            "%d frames, %d faces, %d published, %d dropped at the socket, %d bad frames",
            counters.frames,
            counters.faces,
            counters.published,
            publisher.dropped,
            counters.errors,
        )
    return 0
