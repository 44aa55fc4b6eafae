"""``emostream run``: the pipeline on a camera, stream, file or images, published over ZeroMQ.

This module only parses ``run``'s options; :mod:`stream.assemble` builds and runs the pipeline,
and :mod:`stream.site` a site of cameras.
"""

from __future__ import annotations

import argparse
import logging
import shlex
from pathlib import Path

from stream.assemble import PipelineConfig, run_pipeline, stop_on_signals
from stream.codes.delegates import DELEGATES
from stream.commands.argtypes import (
    add_metrics_option,
    add_model_options,
    attempts,
    cadence,
    fraction,
    non_negative,
    positive_int,
    whole_number,
)
from stream.errors import EmostreamError
from stream.faces.detector import MODELS as DETECTOR_MODELS
from stream.sources import camera_id_for

DEFAULTS = PipelineConfig()
"""The pipeline's defaults, kept once in :class:`~stream.assemble.PipelineConfig`."""


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``demo`` share: output, models, faces, local outputs."""
    out = parser.add_argument_group("publishing")
    where = out.add_mutually_exclusive_group()
    where.add_argument(
        "--publish",
        metavar="ENDPOINT",
        default=DEFAULTS.publish,
        help=f"bind a PUB socket here (default {DEFAULTS.publish}: loopback only)",
    )
    where.add_argument(
        "--connect", metavar="ENDPOINT", help="connect into a broker's frontend instead of binding"
    )
    out.add_argument("--camera-id", help="topic name (default: derived from the source)")
    out.add_argument("--send-codes", action="store_true", help="add each face's int8 code")
    out.add_argument(
        "--send-mesh",
        action="store_true",
        help="add each face's 468 face-mesh points (needs --landmarks on)",
    )
    out.add_argument(
        "--sndhwm",
        type=positive_int,
        default=DEFAULTS.sndhwm,
        help="messages queued per subscriber",
    )
    out.add_argument(
        "--wait-subscribers",
        type=int,
        default=DEFAULTS.wait_subscribers,
        metavar="N",
        help="start only after N subscribers joined (XPUB), so none misses the first frames",
    )
    out.add_argument(
        "--wait-timeout", type=float, default=None, metavar="S", help="give up waiting after S s"
    )
    out.add_argument(
        "--preview-fps",
        type=non_negative,
        default=DEFAULTS.preview_fps,
        metavar="FPS",
        help="also publish an annotated JPEG this often, for dashboards (default: off)",
    )
    out.add_argument("--curve-secret", type=Path, help="server secret key (emostream keys)")
    out.add_argument("--curve-clients", type=Path, help="folder of allowed client public keys")

    model = parser.add_argument_group("models")
    add_model_options(model)
    model.add_argument(
        "--delegate",
        default=DEFAULTS.delegate,
        help=f"where the models run: {', '.join(DELEGATES)} or a delegate library path",
    )
    model.add_argument(
        "--threads",
        type=positive_int,
        default=DEFAULTS.threads,
        help="CPU threads for the expression models (default: 1 with --detection ahead on a "
        "2-core CPU, whose detector and mesh threads take the other core; else 2)",
    )
    model.add_argument(
        "--min-quality",
        type=fraction,
        default=None,
        help="flag faces below this reconstruction quality as uncertain (default: manifest)",
    )

    faces = parser.add_argument_group("faces")
    faces.add_argument(
        "--detector",
        choices=sorted(DETECTOR_MODELS),
        default=DEFAULTS.detector,
        help="MediaPipe model",
    )
    faces.add_argument(
        "--min-score", type=fraction, default=DEFAULTS.min_score, help="detection threshold"
    )
    faces.add_argument(
        "--max-faces", type=positive_int, default=DEFAULTS.max_faces, help="faces per frame"
    )
    faces.add_argument(
        "--smoothing",
        type=fraction,
        default=DEFAULTS.smoothing,
        help="weight of the newest frame per track",
    )
    faces.add_argument(
        "--detect-every",
        type=positive_int,
        default=DEFAULTS.detect_every,
        metavar="N",
        help="detect on every Nth frame, reusing the last faces in between (1: every frame)",
    )
    faces.add_argument(
        "--detection",
        choices=("ahead", "inline"),
        default=DEFAULTS.detection,
        help="ahead: detect on a thread of its own while frames are labelled with the last "
        "boxes (a file: always the same boxes for the same frame); inline: each detection "
        "frame waits for its own (default: %(default)s)",
    )
    faces.add_argument(
        "--quality-every",
        type=positive_int,
        default=DEFAULTS.quality_every,
        metavar="N",
        help="rescore each tracked face's reconstruction quality every Nth frame",
    )
    faces.add_argument(
        "--landmarks",
        type=cadence,
        default=DEFAULTS.landmarks,
        metavar="off|N",
        help="read head pose, eyes and mouth from the face mesh on each tracked face every "
        "Nth frame (default: %(default)s); off: none, and no face is judged turned away",
    )
    faces.add_argument(
        "--gaze",
        action="store_true",
        help="also read where the eyes point, with the iris model, at each face-mesh reading "
        "(about three times the mesh's cost; see docs/landmarks.md)",
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
        "--read-ahead",
        type=whole_number,
        default=DEFAULTS.read_ahead,
        metavar="N",
        help="frames a file decodes ahead of the pipeline: at full speed 1.3-1.5x the frames a "
        "second at 4, but each frame waits for those before it (default: %(default)s, each "
        "frame decoded when it is taken, as a camera hands it over)",
    )
    src.add_argument(
        "--reconnect-attempts",
        type=attempts,
        default=None,
        metavar="N|forever",
        help="tries per outage of a live source (default: forever)",
    )
    src.add_argument(
        "--rtsp-transport",
        choices=("tcp", "udp"),
        default=DEFAULTS.rtsp_transport,
        help="RTSP transport",
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


def handle(args: argparse.Namespace) -> int:
    if args.config is not None:
        return run_site(args)
    if args.check:
        raise EmostreamError("--check needs --config SITE.toml")
    if not args.source:
        raise EmostreamError("say what to read: --source SOURCE, or --config SITE.toml")
    camera_id = args.camera_id or camera_id_for(args.source)
    return run_pipeline(PipelineConfig.from_options(vars(args), camera_id=camera_id))


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
