"""Prometheus metrics over HTTP (``--metrics HOST:PORT``), off unless asked for.

Each command that serves metrics builds its own registry, so a scrape shows only that process:
``run`` exports its pipeline (frames, faces, FPS, drops at the source and at the socket,
reconnects, per-stage latency histograms, the model in use), ``mqtt`` its bridge, ``record`` what it
stored and dropped, ``run --config`` its camera processes and their restarts. Counters that
the pipeline already keeps are read at scrape time by a collector instead of being counted twice.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from stream.errors import EmostreamError

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100`` for IPv6), or a bare ``PORT`` on loopback, as an argparse type.

    A bare port means 127.0.0.1, as every listener of ours does by default: serving the network
    takes a host written out.
    """
    if text.isdigit():
        text = f"127.0.0.1:{text}"
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9100)")
    return host, int(port)


class MetricsServer:
    """``/metrics`` for one registry on a background thread; :meth:`close` stops it."""

    def __init__(self, registry: CollectorRegistry, address: tuple[str, int]) -> None:
        host, port = address
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise EmostreamError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
        log.info("metrics on http://%s:%d/metrics", host, port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class StatsCollector(Collector):
    """Exports, at each scrape, the heartbeat numbers a pipeline keeps (see ``Pipeline.stats``)."""

    COUNTERS: ClassVar[dict[str, str]] = {
        "frames": "frames processed",
        "faces": "faces recognised, summed over frames",
        "errors": "frames that failed and were skipped",
        "dropped_source": "frames the source dropped (a live source keeps only the newest)",
        "dropped_socket": "messages the publisher dropped for a full subscriber queue",
        "reconnects": "times the source reconnected",
        "restarts": "times a site's supervisor restarted this camera's process",
    }

    def __init__(self, camera: str, stats: Callable[[], Mapping[str, Any]]) -> None:
        self.camera = camera
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        values = self.stats()
        for name, text in self.COUNTERS.items():
            family = CounterMetricFamily(f"emostream_{name}", text, labels=["camera"])
            family.add_metric([self.camera], values[name])
            yield family
        for name, text in (("fps", "frames a second, last 2 s"), ("uptime_s", "seconds running")):
            gauge = GaugeMetricFamily(f"emostream_{name}", text, labels=["camera"])
            gauge.add_metric([self.camera], values[name])
            yield gauge
        state = GaugeMetricFamily(
            "emostream_source_up", "1 while the source delivers frames", labels=["camera"]
        )
        state.add_metric([self.camera], 1.0 if values["source_state"] == "running" else 0.0)
        yield state


class PipelineMetrics:
    """What ``run --metrics`` exports: the pipeline's counters, stage latencies and its model."""

    def __init__(self, camera: str, stats: Callable[[], Mapping[str, Any]]) -> None:
        self.camera = camera
        self.registry = CollectorRegistry()
        self.registry.register(StatsCollector(camera, stats))
        self._latency = Histogram(
            "emostream_stage_latency_seconds",
            "time per frame in each pipeline stage (capture, detect, crop, encode, head, "
            "quality, total)",
            ["camera", "stage"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._stages: dict[str, Any] = {}
        self._model = Info(
            "emostream_model", "the models in use", ["camera"], registry=self.registry
        )

    def describe_model(self, **fields: str) -> None:
        self._model.labels(self.camera).info(fields)

    def frame(self, latency_ms: Mapping[str, float]) -> None:
        """Called for every frame: each stage's labelled histogram is looked up once."""
        for stage, ms in latency_ms.items():
            stage_histogram = self._stages.get(stage)
            if stage_histogram is None:
                stage_histogram = self._stages[stage] = self._latency.labels(self.camera, stage)
            stage_histogram.observe(ms / 1000.0)


class _ReadingCollector(Collector):
    """A collector whose numbers come from ``read()`` at each scrape, counted by their owner."""

    def __init__(self, read: Callable[[], Mapping[str, Any]]) -> None:
        self.read = read


class BridgeCollector(_ReadingCollector):
    """The MQTT bridge's connection and queue, and each camera's last heartbeat, at each scrape.

    The bridge sees every camera's heartbeat, so one scrape of it answers "which camera stopped,
    and since when": ``emostream_camera_online`` and the heartbeat numbers per camera.
    """

    HEARTBEAT: ClassVar[dict[str, str]] = {
        "fps": "frames a second at the camera's pipeline",
        "frames": "frames the camera's pipeline processed",
        "dropped_source": "frames the camera's source dropped",
        "dropped_socket": "messages the camera's publisher dropped",
        "reconnects": "times the camera's source reconnected",
    }

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        values = self.read()
        yield GaugeMetricFamily(
            "emostream_mqtt_connected", "1 while connected to the MQTT broker", values["connected"]
        )
        for name, text in (
            ("dropped", "MQTT messages that could not be queued (broker away, queue full)"),
            ("reconnects", "reconnections to the MQTT broker"),
            ("malformed", "ZeroMQ messages skipped as malformed"),
        ):
            yield CounterMetricFamily(f"emostream_mqtt_{name}", text, values[name])
        online = GaugeMetricFamily(
            "emostream_camera_online", "1 while the camera's messages arrive", labels=["camera"]
        )
        for camera, up in values["online"].items():
            online.add_metric([camera], 1.0 if up else 0.0)
        yield online
        for name, text in self.HEARTBEAT.items():
            family = GaugeMetricFamily(f"emostream_camera_{name}", text, labels=["camera"])
            for camera, stats in values["heartbeats"].items():
                if isinstance(stats.get(name), int | float):
                    family.add_metric([camera], float(stats[name]))
            yield family


class BridgeMetrics:
    """What ``mqtt --metrics`` exports: messages in and out, and the bridge's latency."""

    def __init__(self, read: Callable[[], Mapping[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(BridgeCollector(read))
        self._in = Counter(
            "emostream_mqtt_received",
            "emostream messages received over ZeroMQ",
            ["camera", "kind"],
            registry=self.registry,
        )
        self._out = Counter(
            "emostream_mqtt_published",
            "MQTT messages queued for the broker",
            ["kind"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "emostream_mqtt_latency_seconds",
            "from a frame's capture to its MQTT messages being queued",
            ["camera"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )

    def received(self, camera: str, kind: str) -> None:
        self._in.labels(camera, kind).inc()

    def published(self, kind: str) -> None:
        self._out.labels(kind).inc()

    def latency(self, camera: str, seconds: float) -> None:
        self._latency.labels(camera).observe(max(seconds, 0.0))


class SiteCollector(_ReadingCollector):
    """A site supervisor's camera processes and broker, read at each scrape."""

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        values = self.read()
        restarts = CounterMetricFamily(
            "emostream_restarts",
            "times the supervisor restarted a camera's process after it died",
            labels=["camera"],
        )
        running = GaugeMetricFamily(
            "emostream_camera_process_up", "1 while a camera's process runs", labels=["camera"]
        )
        for camera, state in values["cameras"].items():
            restarts.add_metric([camera], state["restarts"])
            running.add_metric([camera], 1.0 if state["running"] else 0.0)
        yield restarts
        yield running
        yield CounterMetricFamily(
            "emostream_site_forwarded",
            "messages the site's broker forwarded to subscribers",
            values["forwarded"],
        )
        yield CounterMetricFamily(
            "emostream_site_malformed",
            "messages the site's broker dropped as not [topic, payload]",
            values["malformed"],
        )


class SiteMetrics:
    """What ``run --config`` exports on ``[site] metrics``: restarts and processes per camera."""

    def __init__(self, read: Callable[[], Mapping[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(SiteCollector(read))


class RecordCollector(_ReadingCollector):
    """``record``'s counts, read at each scrape: what it stored, buffered, dropped and missed."""

    COUNTERS: ClassVar[dict[str, str]] = {
        "frames": "frame messages received",
        "faces_written": "face rows committed to the store",
        "dropped": "face rows dropped because the buffer was full while the store failed",
        "failed_flushes": "batches the store refused (locked, down, disk full), retried later",
        "missed": "frames never received, from gaps in frame numbers",
    }

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        values = self.read()
        for name, text in self.COUNTERS.items():
            yield CounterMetricFamily(f"emostream_record_{name}", text, values[name])
        yield GaugeMetricFamily(
            "emostream_record_buffered", "face rows waiting for the store", values["buffered"]
        )


class RecordMetrics:
    """What ``record --metrics`` exports."""

    def __init__(self, read: Callable[[], Mapping[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(RecordCollector(read))
