"""``emostream subscribe``: watch the labels a pipeline or broker publishes in a terminal."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from stream.commands.argtypes import add_curve_client_options, positive_int, positive_seconds
from stream.publish.schema import TOPIC_PREFIX
from stream.publish.subscriber import Message, Subscriber

HEADER = (
    f"{'CAMERA':<16} {'FRAME':>8} {'FPS':>6}  "
    "FACES (id label confidence quality, then yaw pitch eyes mouth from the face mesh)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "subscribe",
        help="print the messages a pipeline or broker publishes",
        description=(
            "Connect to a publisher or broker endpoint and print one line per frame message "
            "(faces with label, confidence and quality; fps from the stats heartbeat), or every "
            "message as JSON. Malformed messages are skipped with a warning."
        ),
    )
    parser.add_argument("endpoint", metavar="ENDPOINT", help="e.g. tcp://127.0.0.1:5556")
    parser.add_argument(
        "--topic",
        action="append",
        metavar="PREFIX",
        help=f"topic prefix to subscribe to, repeatable (default {TOPIC_PREFIX})",
    )
    parser.add_argument(
        "--json", action="store_true", help='one {"topic", "payload"} JSON object per line'
    )
    parser.add_argument(
        "--count", type=positive_int, metavar="N", help="exit after N frame messages"
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="S",
        help="fail (exit 1) when no message arrives for S seconds",
    )
    add_curve_client_options(parser)
    parser.set_defaults(handler=handle)


def _text(value: str) -> str:
    """Names come from the network: never let one move the cursor or change the terminal."""
    return value if value.isprintable() else repr(value)


def _mesh(face: dict[str, Any]) -> str:
    """The face mesh's reading, where the publisher sent one (schema 1.1, landmarks on), and
    the gaze (1.2, ``--gaze``)."""
    parts = []
    pose = face.get("pose")
    if isinstance(pose, dict):
        parts.append(f"yaw{pose['yaw']:+.0f} pitch{pose['pitch']:+.0f}")
    eyes = face.get("eyes_open")
    if isinstance(eyes, list):
        parts.append(f"eyes {eyes[0]:.1f}/{eyes[1]:.1f}")
    mouth = face.get("mouth_open")
    if isinstance(mouth, int | float):
        parts.append(f"mouth {mouth:.1f}")
    gaze = face.get("gaze")
    if isinstance(gaze, dict):
        parts.append(f"gaze{gaze['yaw']:+.0f}/{gaze['pitch']:+.0f}")
    if face.get("frontal") is False:
        parts.append("away")
    return "".join(f" {part}" for part in parts)


def _faces(faces: list[dict[str, Any]]) -> str:
    if not faces:
        return "-"
    cells = []
    for face in faces:
        quality = face.get("quality")
        cells.append(
            f"#{face['id']} {_text(face['label'])}{'?' if face.get('uncertain') else ''} "
            f"{face['confidence']:.2f}"
            + (f" q{quality:.2f}" if isinstance(quality, int | float) else "")
            + _mesh(face)
        )
    return ", ".join(cells)


def format_row(message: Message, fps: dict[str, float]) -> str:
    payload = message.payload
    camera = payload["camera"]
    rate = f"{fps[camera]:6.1f}" if camera in fps else f"{'-':>6}"
    return f"{_text(camera):<16} {payload['frame']:>8} {rate}  {_faces(payload['faces'])}"


def _print(line: str) -> None:
    print(line, flush=True)


def handle(args: argparse.Namespace) -> int:
    topics = args.topic or [TOPIC_PREFIX]
    fps: dict[str, float] = {}
    frames = 0
    try:
        with Subscriber(
            args.endpoint,
            topics,
            curve_secret=args.curve_secret,
            curve_server_key=args.curve_server_key,
        ) as subscriber:
            if not args.json:
                _print(HEADER)
            for message in subscriber.messages(idle_timeout=args.timeout):
                if args.json:
                    _print(json.dumps({"topic": message.topic, "payload": message.payload}))
                if message.is_stats:
                    fps[message.payload["camera"]] = message.payload["fps"]
                    continue
                if not args.json:
                    _print(format_row(message, fps))
                frames += 1
                if args.count is not None and frames >= args.count:
                    return 0
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(
        f"emostream subscribe: error: no message on {args.endpoint} for {args.timeout} s",
        file=sys.stderr,
    )
    return 1
