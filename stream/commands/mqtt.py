"""``emostream mqtt``: a pipeline's or broker's stream bridged to MQTT, Home Assistant included."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import time
from pathlib import Path

from stream.commands.argtypes import add_curve_client_options, add_metrics_option, positive_seconds
from stream.metrics import BridgeMetrics, MetricsServer
from stream.mqtt.bridge import Bridge
from stream.mqtt.client import BrokerUrl, MqttClient, MqttError, read_password
from stream.mqtt.topics import Outgoing, Topics
from stream.publish.subscriber import Subscriber

log = logging.getLogger(__name__)

POLL_S = 0.1
KINDS = {"state": "state", "event": "event", "availability": "availability", "config": "discovery"}


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


def _kind(topic: str) -> str:
    return KINDS.get(topic.rsplit("/", 1)[-1], "other")


def handle(args: argparse.Namespace) -> int:
    broker = BrokerUrl.parse(args.broker)
    if args.password_file is not None and args.username is None:
        raise MqttError("--password-file needs --username")
    password = read_password(args.password_file) if args.password_file else None
    topics = Topics(args.prefix.strip("/"), None if args.no_discovery else args.discovery_prefix)
    bridge = Bridge(topics, rate=args.rate, offline_after=args.offline_after)
    client = MqttClient(
        broker,
        topics.availability,
        client_id=args.client_id or f"emostream-{socket.gethostname()}-{os.getpid()}",
        username=args.username,
        password=password,
        ca_file=args.tls,
        subscribe=(topics.discovery_status,) if topics.discovery_status else (),
    )
    heartbeats: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        subscriber = stack.enter_context(
            Subscriber(
                args.connect,
                curve_secret=args.curve_secret,
                curve_server_key=args.curve_server_key,
            )
        )
        metrics = BridgeMetrics(
            lambda: {
                "connected": 1.0 if client.connected else 0.0,
                "dropped": client.dropped,
                "reconnects": client.reconnects,
                "malformed": subscriber.malformed,
                "online": {name: cam.online for name, cam in bridge.cameras.items()},
                "heartbeats": dict(heartbeats),
            }
        )
        if args.metrics:
            stack.callback(MetricsServer(metrics.registry, args.metrics).close)

        def send(messages: list[Outgoing]) -> None:
            for message in messages:
                if client.publish(message):
                    metrics.published(_kind(message.topic))

        client.start()
        stack.callback(client.close)
        log.info("bridging %s to %s under %s/", args.connect, broker, topics.prefix)
        while client.fatal is None:
            if client.take_resync():
                send(bridge.resync())
            message = subscriber.receive(timeout=POLL_S)
            if message is not None:
                payload = message.payload
                camera = payload["camera"]
                if message.is_stats:
                    heartbeats[camera] = payload
                    metrics.received(camera, "stats")
                    send(bridge.stats(payload))
                else:
                    metrics.received(camera, "frame")
                    send(bridge.frame(payload))
                    metrics.latency(camera, time.time() - payload["captured_at"])
            send(bridge.tick())
        raise MqttError(client.fatal)
