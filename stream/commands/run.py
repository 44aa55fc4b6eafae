"""``emostream run``: the pipeline on a camera, stream, file or images, published over ZeroMQ."""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

from stream.codes.delegates import DELEGATES
from stream.commands.argtypes import (
    add_metrics_option,
    add_model_options,
    attempts,
    fraction,
    non_negative,
    positive_int,
)
from stream.errors import EmostreamError
from stream.faces.detector import MODELS as DETECTOR_MODELS
from stream.faces.detector import FaceDetector
from stream.faces.tracker import IouTracker
from stream.family import resolve_model_dir
from stream.metrics import MetricsServer, PipelineMetrics
from stream.models import load_models
from stream.outputs import Recorder, Window
from stream.pipeline import Pipeline, PipelineOptions
from stream.publish.publisher import Publisher
from stream.recognizer import VIDEO_DETECT_EVERY, VIDEO_QUALITY_EVERY, Recognizer
from stream.sources import ReconnectPolicy, camera_id_for, open_source

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5556"


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``demo`` share: output, models, faces, local outputs."""
    out = parser.add_argument_group("publishing")
    where = out.add_mutually_exclusive_group()
    where.add_argument(
        "--publish",
        metavar="ENDPOINT",
        default=DEFAULT_ENDPOINT,
        help=f"bind a PUB socket here (default {DEFAULT_ENDPOINT}: loopback only)",
    )
    where.add_argument(
        "--connect", metavar="ENDPOINT", help="connect into a broker's frontend instead of binding"
    )
    out.add_argument("--camera-id", help="topic name (default: derived from the source)")
    out.add_argument("--send-codes", action="store_true", help="add each face's int8 code")
    out.add_argument(
        "--sndhwm", type=positive_int, default=100, help="messages queued per subscriber"
    )
    out.add_argument(
        "--wait-subscribers",
        type=int,
        default=0,
        metavar="N",
        help="start only after N subscribers joined (XPUB), so none misses the first frames",
    )
    out.add_argument(
        "--wait-timeout", type=float, default=None, metavar="S", help="give up waiting after S s"
    )
    out.add_argument(
        "--preview-fps",
        type=non_negative,
        default=0.0,
        metavar="FPS",
        help="also publish an annotated JPEG this often, for dashboards (default: off)",
    )
    out.add_argument("--curve-secret", type=Path, help="server secret key (emostream keys)")
    out.add_argument("--curve-clients", type=Path, help="folder of allowed client public keys")

    model = parser.add_argument_group("models")
    add_model_options(model)
    model.add_argument(
        "--delegate",
        default="cpu",
        help=f"where the models run: {', '.join(DELEGATES)} or a delegate library path",
    )
    model.add_argument("--threads", type=positive_int, default=2, help="CPU threads for models")
    model.add_argument(
        "--min-quality",
        type=fraction,
        default=None,
        help="flag faces below this reconstruction quality as uncertain (default: manifest)",
    )

    faces = parser.add_argument_group("faces")
    faces.add_argument(
        "--detector", choices=sorted(DETECTOR_MODELS), default="short", help="MediaPipe model"
    )
    faces.add_argument("--min-score", type=fraction, default=0.5, help="detection threshold")
    faces.add_argument("--max-faces", type=positive_int, default=8, help="faces per frame")
    faces.add_argument(
        "--smoothing", type=fraction, default=0.4, help="weight of the newest frame per track"
    )
    faces.add_argument(
        "--detect-every",
        type=positive_int,
        default=VIDEO_DETECT_EVERY,
        metavar="N",
        help="detect on every Nth frame, reusing the last faces in between (1: every frame)",
    )
    faces.add_argument(
        "--quality-every",
        type=positive_int,
        default=VIDEO_QUALITY_EVERY,
        metavar="N",
        help="rescore each tracked face's reconstruction quality every Nth frame",
    )

    add_metrics_option(parser.add_argument_group("monitoring"))

    local = parser.add_argument_group("local outputs")
    local.add_argument("--record", type=Path, metavar="OUT.mp4", help="write an annotated video")
    local.add_argument("--show", action="store_true", help="open a preview window")
    local.add_argument(
        "--blur-faces",
        action="store_true",
        help="blur every face in --record's video, --show's window and --preview-fps's JPEGs",
    )
    local.add_argument(
        "--max-frames", type=positive_int, default=None, help="stop after this many frames"
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``run``'s options for one camera: what a site file's camera tables may set."""
    parser.add_argument(
        "--source",
        help="camera index (0), video file, rtsp:// or http(s):// URL, image, folder, or 'demo'",
    )
    src = parser.add_argument_group("source")
    src.add_argument("--realtime", action="store_true", help="pace a file at its own FPS")
    src.add_argument("--loop", action="store_true", help="restart a file at its end")
    src.add_argument(
        "--reconnect-attempts",
        type=attempts,
        default=None,
        metavar="N|forever",
        help="tries per outage of a live source (default: forever)",
    )
    src.add_argument(
        "--rtsp-transport", choices=("tcp", "udp"), default="tcp", help="RTSP transport"
    )
    add_pipeline_arguments(parser)


def build_run_parser() -> argparse.ArgumentParser:
    """A stand-alone parser for one camera's ``run`` arguments (a site's camera processes)."""
    parser = argparse.ArgumentParser(prog="emostream run", add_help=False)
    add_run_arguments(parser)
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="recognise expressions in a video source, or every camera of a site, over ZeroMQ",
        description=(
            "Read a camera, RTSP/HTTP stream, video file, image or folder of images; find faces; "
            "label their expressions with the int8 models; publish one JSON message per frame "
            "on topic emostream/<camera-id> and a heartbeat on emostream/<camera-id>/stats. "
            "With --config, run every camera of a site file instead, each in its own process "
            "under a supervisor that restarts it and publishes all of them on one endpoint."
        ),
    )
    add_run_arguments(parser)
    site = parser.add_argument_group("site")
    site.add_argument(
        "--config",
        type=Path,
        metavar="SITE.toml",
        help="run every [cameras.<id>] of this site file (see docs/site.toml); "
        "the file replaces every other option",
    )
    site.add_argument(
        "--check", action="store_true", help="with --config: check the file, print the plan, exit"
    )
    parser.set_defaults(handler=handle)


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


def build_publisher(args: argparse.Namespace) -> Publisher:
    return Publisher(
        endpoint=args.connect or args.publish,
        connect=bool(args.connect),
        sndhwm=args.sndhwm,
        wait_subscribers=args.wait_subscribers,
        curve_secret=args.curve_secret,
        curve_clients=args.curve_clients,
    )


def run_pipeline(
    args: argparse.Namespace,
    source_spec: str,
    camera_id: str,
    max_seconds: float | None = None,
    restarts: int = 0,
) -> int:
    """Open everything ``args`` asks for, run until the source ends or a signal, close it all.

    ``restarts`` is how often a site's supervisor has restarted this camera, for its heartbeat.
    """
    if args.wait_subscribers < 0:
        raise EmostreamError("--wait-subscribers cannot be negative")
    with contextlib.ExitStack() as stack:
        window = Window(f"emostream {camera_id}") if args.show else None
        if window is not None:
            stack.callback(window.close)
        model_dir = resolve_model_dir(args.model, args.models)
        models = load_models(model_dir, args.delegate, args.threads)
        publisher = build_publisher(args)
        stack.callback(publisher.close)
        source = open_source(
            source_spec,
            realtime=getattr(args, "realtime", False),
            loop=getattr(args, "loop", False),
            reconnect=ReconnectPolicy(max_attempts=getattr(args, "reconnect_attempts", None)),
            transport=getattr(args, "rtsp_transport", "tcp"),
        )
        stack.callback(source.close)
        recorder = Recorder(args.record, source.info.fps or 25.0) if args.record else None
        if recorder is not None:
            stack.callback(recorder.close)
        detector = FaceDetector(args.detector, args.min_score, args.max_faces)
        stack.callback(detector.close)
        recognizer = Recognizer(
            models,
            detector,
            IouTracker(alpha=args.smoothing),
            min_quality=args.min_quality,
            detect_every=args.detect_every,
            quality_every=args.quality_every,
        )
        metrics = PipelineMetrics(camera_id, lambda: pipeline.stats()) if args.metrics else None
        pipeline = Pipeline(
            source,
            recognizer,
            publisher,
            PipelineOptions(
                camera_id,
                send_codes=args.send_codes,
                max_frames=args.max_frames,
                max_seconds=max_seconds,
                preview_fps=args.preview_fps,
                blur_faces=args.blur_faces,
                restarts=restarts,
            ),
            recorder,
            window,
            on_frame=metrics.frame if metrics else None,
        )
        if metrics is not None:
            metrics.describe_model(
                models=str(model_dir),
                encoder_sha256=models.manifest.models["encoder"]["sha256"][:12],
                detector=args.detector,
                delegate=args.delegate,
            )
            stack.callback(MetricsServer(metrics.registry, args.metrics).close)
        with stop_on_signals(pipeline.stop):
            if args.wait_subscribers:
                log.info(
                    "waiting for %d subscriber(s) on %s", args.wait_subscribers, publisher.endpoint
                )
                joined = publisher.wait_for_subscribers(
                    args.wait_subscribers, args.wait_timeout, cancelled=lambda: pipeline.stopping
                )
                if not joined:
                    if pipeline.stopping:
                        return 130
                    raise EmostreamError(
                        f"no {args.wait_subscribers} subscriber(s) within {args.wait_timeout} s"
                    )
            log.info(
                "publishing %s on %s as emostream/%s", source_spec, publisher.endpoint, camera_id
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


def handle(args: argparse.Namespace) -> int:
    if args.config is not None:
        return run_site(args)
    if args.check:
        raise EmostreamError("--check needs --config SITE.toml")
    if not args.source:
        raise EmostreamError("say what to read: --source SOURCE, or --config SITE.toml")
    return run_pipeline(args, args.source, args.camera_id or camera_id_for(args.source))


def run_site(args: argparse.Namespace) -> int:
    from stream.site.config import load_site
    from stream.site.supervisor import Supervisor

    given = _options_given(args)
    if given:
        raise EmostreamError(
            f"--config takes every option from the site file; set {given[0]} there instead"
        )
    site = load_site(args.config, add_run_arguments)
    if args.check:
        print(f"{site.path}: {len(site.cameras)} camera(s), publishing on {site.publish}")
        for camera in site.cameras:
            print(f"  {camera.camera_id}: emostream run {shlex.join(camera.argv)}")
        return 0
    if not args.verbose:
        logging.getLogger().setLevel(site.log_level.upper())
    supervisor = Supervisor(site, args.verbose)
    with stop_on_signals(supervisor.stop):
        return supervisor.run()


def _options_given(args: argparse.Namespace) -> list[str]:
    """Camera options set on the command line next to ``--config``, as ``--flag`` names."""
    defaults = vars(build_run_parser().parse_args([]))
    return [
        f"--{name.replace('_', '-')}"
        for name, default in defaults.items()
        if getattr(args, name) != default
    ]
