"""Run a site: one process per camera, restarted with back-off, all publishing through one broker.

Each camera is its own process so that one camera's native crash (FFmpeg, a delegate) or stuck
read cannot take the others down, and so cameras use separate cores. The supervisor binds the
site's XPUB endpoint itself and forwards from an XSUB socket the cameras connect to, so a
subscriber connects once and gets every camera; the broker's per-subscriber queues mean a stalled
subscriber loses only its own messages.

A camera that exits non-zero or is killed is restarted after ``restart_delay`` seconds, doubling
on every failure in a row up to ``restart_max_delay``; a camera that ran longer than that before
failing starts again from the short delay. A camera whose source simply ended (a file without
``loop``) exits 0 and is not restarted. SIGINT or SIGTERM stops every camera with SIGTERM (each
finishes its frame and closes its outputs), then kills what is still running after a grace time.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

from stream.metrics import MetricsServer, SiteMetrics
from stream.publish.broker import Broker
from stream.site.camera import camera_main
from stream.site.config import Camera, Site

log = logging.getLogger(__name__)

_TICK_S = 0.1
STOP_GRACE_S = 10.0
DRAIN_S = 0.5
"""After the cameras exit, the broker forwards until it has been idle this long: their last
frames still reach the subscribers."""


@dataclass
class CameraProcess:
    """One camera's process and its restart bookkeeping."""

    camera: Camera
    process: BaseProcess | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures_in_a_row: int = 0
    restart_at: float | None = None
    finished: bool = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.is_alive()


class Supervisor:
    """Owns the broker, the camera processes and the site's metrics; :meth:`run` blocks."""

    def __init__(self, site: Site, verbose: int = 0) -> None:
        self.site = site
        self.verbose = verbose
        self.cameras = {c.camera_id: CameraProcess(c) for c in site.cameras}
        self._stopping = threading.Event()
        self._context = multiprocessing.get_context("spawn")
        self._socket_dir = tempfile.TemporaryDirectory(prefix="emostream-site-")
        frontend = f"ipc://{Path(self._socket_dir.name) / 'cameras'}"
        try:
            self.broker = Broker(frontend, site.publish)
        except BaseException:
            self._socket_dir.cleanup()
            raise

    def stop(self) -> None:
        self._stopping.set()

    def counts(self) -> dict:
        """What the metrics export, read at each scrape."""
        return {
            "cameras": {
                cid: {"restarts": c.restarts, "running": c.running}
                for cid, c in self.cameras.items()
            },
            "forwarded": self.broker.forwarded,
            "malformed": self.broker.malformed,
        }

    def run(self) -> int:
        """Until a signal, or until every camera's source has ended."""
        server = None
        forwarder = threading.Thread(target=self.broker.run, name="site-broker", daemon=True)
        forwarder.start()
        try:
            if self.site.metrics:
                server = MetricsServer(SiteMetrics(self.counts).registry, self.site.metrics)
            log.info(
                "site %s: %d camera(s) publishing on %s",
                self.site.path,
                len(self.cameras),
                self.broker.backend,
            )
            for camera in self.cameras.values():
                self._start(camera)
            while not self._stopping.is_set():
                self._watch(time.monotonic())
                if all(c.finished for c in self.cameras.values()):
                    log.info("every camera's source has ended")
                    break
                self._stopping.wait(_TICK_S)
        finally:
            self._stop_cameras()
            self.broker.stop(drain_s=DRAIN_S)
            forwarder.join(timeout=5)
            if server is not None:
                server.close()
            self.broker.close()
            self._socket_dir.cleanup()
        return 0

    def _start(self, camera: CameraProcess) -> None:
        camera.process = self._context.Process(
            target=camera_main,
            args=(
                asdict(camera.camera.config),
                self.broker.frontend,
                camera.restarts,
                self._level(),
            ),
            name=f"camera-{camera.camera.camera_id}",
        )
        camera.process.start()
        camera.started_at = time.monotonic()
        camera.restart_at = None

    def _level(self) -> int:
        if self.verbose >= 2:
            return logging.DEBUG
        if self.verbose == 1:
            return logging.INFO
        return getattr(logging, self.site.log_level.upper())

    def _watch(self, now: float) -> None:
        for cid, camera in self.cameras.items():
            if camera.finished:
                continue
            if camera.restart_at is not None:
                if now >= camera.restart_at:
                    camera.restarts += 1
                    log.warning("camera %s: restart %d", cid, camera.restarts)
                    self._start(camera)
                continue
            process = camera.process
            if process is None or process.is_alive():
                continue
            code = process.exitcode if process.exitcode is not None else -1
            process.close()
            camera.process = None
            if code == 0:
                log.info("camera %s: source ended, not restarting", cid)
                camera.finished = True
                continue
            ran = now - camera.started_at
            camera.failures_in_a_row = (
                1 if ran > self.site.restart_max_delay else camera.failures_in_a_row + 1
            )
            delay = min(
                self.site.restart_delay * 2 ** (camera.failures_in_a_row - 1),
                self.site.restart_max_delay,
            )
            camera.restart_at = now + delay
            log.warning(
                "camera %s: process %s after %.1f s; restarting in %.1f s",
                cid,
                _describe(code),
                ran,
                delay,
            )

    def _stop_cameras(self) -> None:
        running = [c.process for c in self.cameras.values() if c.process is not None and c.running]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("%s did not stop within %.0f s; killing it", process.name, STOP_GRACE_S)
                process.kill()
                process.join()


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"
