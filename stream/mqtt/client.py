"""The MQTT side of the bridge: paho-mqtt 2 on its own network thread, never blocking the caller.

paho connects, keeps the connection alive and reconnects with exponential back-off (1 s up to
30 s) on its thread. :meth:`MqttClient.publish` only queues: a message that cannot be queued
(not connected for QoS 0, or the bounded queue full while the broker is away) is dropped and
counted. A broker that refuses the credentials is fatal, reported once as one line; a broker
that is down or restarts is not: the bridge waits for it.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from stream.errors import EmostreamError
from stream.mqtt.topics import OFFLINE, Outgoing

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000
# CONNACK codes that no retry can cure: MQTT 3.1.1's 4 and 5, MQTT 5's 0x86 and 0x87.
REFUSED = {
    4: "bad user name or password",
    5: "not authorised",
    134: "bad user name or password",
    135: "not authorised",
}


class MqttError(EmostreamError):
    """An MQTT broker URL, credential or TLS file that cannot work."""


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, text: str) -> BrokerUrl:
        """``mqtt://HOST[:PORT]`` (1883) or ``mqtts://HOST[:PORT]`` (8883)."""
        parts = urlsplit(text)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise MqttError(f"{text!r} is not mqtt://HOST:PORT or mqtts://HOST:PORT")
        if parts.username or parts.password:
            raise MqttError("put no credentials in the URL: use --username and --password-file")
        try:
            port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        except ValueError:
            raise MqttError(f"{text!r} has a bad port") from None
        return cls(parts.hostname, port, parts.scheme == "mqtts")

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def read_password(path: Path) -> str:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MqttError(f"cannot read the password file {path}: {exc}") from None
    if not lines or not lines[0]:
        raise MqttError(f"the password file {path} is empty")
    return lines[0]


class MqttClient:
    """One connection to the broker, with a last will that marks ``will_topic`` offline."""

    def __init__(
        self,
        broker: BrokerUrl,
        will_topic: str,
        *,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        subscribe: tuple[str, ...] = (),
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self.broker = broker
        self.will_topic = will_topic
        self.subscribe_to = subscribe
        self.connected = False
        self.connections = 0
        self.dropped = 0
        self.fatal: str | None = None
        self._closing = False
        self._resync = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        self._client.max_queued_messages_set(queue_limit)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.will_set(will_topic, OFFLINE, qos=1, retain=True)
        if username is not None:
            self._client.username_pw_set(username, password)
        if ca_file is not None and not broker.tls:
            raise MqttError("--tls needs an mqtts:// broker URL")
        if broker.tls:
            try:
                self._client.tls_set(
                    ca_certs=str(ca_file) if ca_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT
                )
            except (OSError, ssl.SSLError) as exc:
                raise MqttError(f"cannot use the CA file {ca_file}: {exc}") from None
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    @property
    def reconnects(self) -> int:
        return max(self.connections - 1, 0)

    def start(self) -> None:
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self._client.loop_start()

    def take_resync(self) -> bool:
        """True once after each successful connection, and when Home Assistant restarts."""
        if self._resync.is_set():
            self._resync.clear()
            return True
        return False

    def publish(self, message: Outgoing) -> bool:
        info = self._client.publish(
            message.topic, message.payload, qos=message.qos, retain=message.retain
        )
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.dropped += 1
            return False
        return True

    def close(self) -> None:
        """Mark the bridge offline (a clean exit sends no last will), then disconnect."""
        self._closing = True
        if self.connected:
            info = self._client.publish(self.will_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                log.debug("could not send offline before closing")
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            code = reason.value
            if code in REFUSED:
                self.fatal = f"{self.broker} refused the connection: {REFUSED[code]}"
                client.disconnect()
            else:
                log.warning("%s refused the connection: %s; retrying", self.broker, reason)
            return
        self.connected = True
        self.connections += 1
        if self.connections > 1:
            log.warning("reconnected to %s", self.broker)
        else:
            log.info("connected to %s", self.broker)
        for topic in self.subscribe_to:
            client.subscribe(topic, qos=1)
        self._resync.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        was = self.connected
        self.connected = False
        if was and self.fatal is None and not self._closing:
            log.warning("lost %s (%s); reconnecting with back-off", self.broker, reason)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if message.payload == b"online":
            log.info("%s announced itself: sending discovery again", message.topic)
            self._resync.set()
