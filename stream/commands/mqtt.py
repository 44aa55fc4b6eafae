"""``emostream mqtt``: a pipeline's or broker's stream bridged to MQTT, Home Assistant included."""

from __future__ import annotations

import argparse
from pathlib import Path

from stream.commands.argtypes import add_curve_client_options, add_metrics_option, positive_seconds
from stream.mqtt.service import BridgeOptions, run_bridge


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mqtt",
        help="bridge the stream to an MQTT broker (Home Assistant discovery included)",
        description=(
            "Subscribe to a pipeline or broker and publish, per camera, a retained state "
            "(faces, dominant expression, confidence) when it changes, an event when a track's "
            "label changes, availability with a last will, and Home Assistant discovery so each "
            "camera appears as a device without any YAML. Topics and payloads: "
            "stream/mqtt/topics.py. The ZeroMQ side never waits for MQTT: what cannot be queued "
            "is dropped and counted."
        ),
    )
    parser.add_argument(
        "--connect", required=True, metavar="ENDPOINT", help="e.g. tcp://127.0.0.1:5556"
    )
    parser.add_argument(
        "--broker", required=True, metavar="URL", help="mqtt://HOST:PORT or mqtts://HOST:PORT"
    )
    auth = parser.add_argument_group("MQTT connection")
    auth.add_argument("--username", help="MQTT user name")
    auth.add_argument("--password-file", type=Path, metavar="FILE", help="its first line")
    auth.add_argument("--tls", type=Path, metavar="CAFILE", help="CA certificate for mqtts://")
    auth.add_argument("--client-id", help="MQTT client id (default: emostream-<host>-<pid>)")
    topics = parser.add_argument_group("topics")
    topics.add_argument("--prefix", default="emostream", help="topic prefix (default emostream)")
    topics.add_argument(
        "--discovery-prefix",
        default="homeassistant",
        help="Home Assistant discovery prefix (default homeassistant)",
    )
    topics.add_argument("--no-discovery", action="store_true", help="send no discovery configs")
    topics.add_argument(
        "--rate",
        type=positive_seconds,
        default=2.0,
        metavar="N",
        help="state messages per camera per second, at most (default 2)",
    )
    topics.add_argument(
        "--offline-after",
        type=positive_seconds,
        default=10.0,
        metavar="S",
        help="mark a camera offline after S seconds without messages (default 10)",
    )
    add_metrics_option(parser)
    add_curve_client_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    return run_bridge(
        BridgeOptions(
            connect=args.connect,
            broker=args.broker,
            username=args.username,
            password_file=args.password_file,
            tls=args.tls,
            client_id=args.client_id,
            prefix=args.prefix,
            discovery_prefix=None if args.no_discovery else args.discovery_prefix,
            rate=args.rate,
            offline_after=args.offline_after,
            metrics=args.metrics,
            curve_secret=args.curve_secret,
            curve_server_key=args.curve_server_key,
        )
    )
