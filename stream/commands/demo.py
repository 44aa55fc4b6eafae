"""``emostream demo``: the whole product on any machine, no camera needed.

The pipeline runs on the built-in clip (scikit-image's public-domain astronaut photo, panned and
zoomed) and publishes over ZeroMQ as usual; a subscriber on the same endpoint prints what
arrives, so what is shown has really crossed a socket.
"""

from __future__ import annotations

import argparse
import logging
import threading

from stream.assemble import PipelineConfig, run_pipeline
from stream.commands.argtypes import positive_seconds
from stream.commands.run import add_pipeline_arguments
from stream.commands.subscribe import HEADER, format_row
from stream.publish.schema import frame_topic, stats_topic
from stream.publish.subscriber import Subscriber

log = logging.getLogger(__name__)

CAMERA = "demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the pipeline on the built-in clip and show live results from a subscriber",
        description=(
            "Runs the full pipeline on a built-in clip generated from scikit-image's astronaut "
            "photo (no camera needed), publishes on --publish like `emostream run`, and prints "
            "the live results a ZeroMQ subscriber receives. Ctrl-C stops it."
        ),
    )
    parser.add_argument(
        "--seconds",
        type=positive_seconds,
        default=None,
        help="stop after this long (default: until Ctrl-C)",
    )
    add_pipeline_arguments(parser)
    parser.set_defaults(handler=handle, realtime=True, loop=True)


def _show(subscriber: Subscriber, stop: threading.Event) -> None:
    fps: dict[str, float] = {}
    print(HEADER, flush=True)
    while not stop.is_set():
        message = subscriber.receive(timeout=0.2)
        if message is None:
            continue
        if message.is_stats:
            fps[message.payload["camera"]] = message.payload["fps"]
        else:
            print(format_row(message, fps), flush=True)


def handle(args: argparse.Namespace) -> int:
    camera = args.camera_id or CAMERA
    config = PipelineConfig.from_options(
        vars(args), source="demo", camera_id=camera, max_seconds=args.seconds
    )
    if args.connect:
        log.info(
            "publishing into %s: subscribe to the broker's backend to see results", args.connect
        )
        return run_pipeline(config)
    topics = (frame_topic(camera).decode(), stats_topic(camera).decode())
    stop = threading.Event()
    with Subscriber(args.publish, topics) as watch:
        viewer = threading.Thread(target=_show, args=(watch, stop), daemon=True)
        viewer.start()
        try:
            return run_pipeline(config)
        finally:
            stop.set()
            viewer.join(timeout=2)
