"""``emostream mqtt``'s loop: the ZeroMQ stream in, MQTT out, metrics on the side.

The command parses its options into :class:`BridgeOptions` and calls :func:`run_bridge`; the
loop never waits for MQTT (the client queues or drops, and counts), and it ends only when the
client reports a fatal error, such as a broker that refuses the credentials.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from stream.metrics import BridgeMetrics, MetricsServer
from stream.mqtt.bridge import Bridge
from stream.mqtt.client import BrokerUrl, MqttClient, MqttError, read_password
from stream.mqtt.topics import Outgoing, Topics
from stream.publish.subscriber import Subscriber

log = logging.getLogger(__name__)

POLL_S = 0.1
KINDS = {"state": "state", "event": "event", "availability": "availability", "config": "discovery"}


@dataclass(frozen=True)
class BridgeOptions:
    connect: str
    broker: str
    username: str | None = None
    password_file: Path | None = None
    tls: Path | None = None
    client_id: str | None = None
    prefix: str = "emostream"
    discovery_prefix: str | None = "homeassistant"
    """None: send no Home Assistant discovery."""
    rate: float = 2.0
    offline_after: float = 10.0
    metrics: tuple[str, int] | None = None
    curve_secret: Path | None = None
    curve_server_key: Path | None = None


def _kind(topic: str) -> str:
    return KINDS.get(topic.rsplit("/", 1)[-1], "other")


def run_bridge(options: BridgeOptions) -> int:
    """Bridge until the MQTT client fails for good; raises :class:`MqttError` then."""
    broker = BrokerUrl.parse(options.broker)
    if options.password_file is not None and options.username is None:
        raise MqttError("--password-file needs --username")
    password = read_password(options.password_file) if options.password_file else None
    topics = Topics(options.prefix.strip("/"), options.discovery_prefix)
    bridge = Bridge(topics, rate=options.rate, offline_after=options.offline_after)
    client = MqttClient(
        broker,
        topics.availability,
        client_id=options.client_id or f"emostream-{socket.gethostname()}-{os.getpid()}",
        username=options.username,
        password=password,
        ca_file=options.tls,
        subscribe=(topics.discovery_status,) if topics.discovery_status else (),
    )
    with contextlib.ExitStack() as stack:
        subscriber = stack.enter_context(
            Subscriber(
                options.connect,
                curve_secret=options.curve_secret,
                curve_server_key=options.curve_server_key,
            )
        )

        def scrape() -> dict:
            online, heartbeats = bridge.snapshot()
            return {
                "connected": 1.0 if client.connected else 0.0,
                "dropped": client.dropped,
                "reconnects": client.reconnects,
                "malformed": subscriber.malformed,
                "online": online,
                "heartbeats": heartbeats,
            }

        metrics = BridgeMetrics(scrape)
        if options.metrics:
            stack.callback(MetricsServer(metrics.registry, options.metrics).close)

        def send(messages: list[Outgoing]) -> None:
            for message in messages:
                if client.publish(message):
                    metrics.published(_kind(message.topic))

        client.start()
        stack.callback(client.close)
        log.info("bridging %s to %s under %s/", options.connect, broker, topics.prefix)
        while client.fatal is None:
            if client.take_resync():
                send(bridge.resync())
            message = subscriber.receive(timeout=POLL_S)
            if message is not None:
                payload = message.payload
                camera = payload["camera"]
                if message.is_stats:
                    metrics.received(camera, "stats")
                    send(bridge.stats(payload))
                else:
                    metrics.received(camera, "frame")
                    send(bridge.frame(payload))
                    metrics.latency(camera, time.time() - payload["captured_at"])
            send(bridge.tick())
        raise MqttError(client.fatal)
