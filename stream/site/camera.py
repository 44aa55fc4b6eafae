"""The entry point of one camera's process under the site supervisor.

The process leaves the terminal's process group, so Ctrl-C reaches only the supervisor, which
then stops the cameras in order; and it stops by itself if the supervisor disappears (killed
with ``-9``), instead of publishing into a broker that no longer exists.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any

_ORPHAN_CHECK_S = 1.0


def _stop_when_orphaned(parent: int) -> None:
    while True:
        time.sleep(_ORPHAN_CHECK_S)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def camera_main(options: dict[str, Any], frontend: str, restarts: int, level: int) -> None:
    """The pipeline of ``options`` (a :class:`~stream.assemble.PipelineConfig`'s fields), publishing
    into the broker at ``frontend``; exits.

    Plain values travel to the new process, so it imports the pipeline's modules only here,
    after it has left the terminal's process group: a Ctrl-C during those imports is the
    supervisor's alone.
    """
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, _interrupt)
    threading.Thread(
        target=_stop_when_orphaned, args=(os.getppid(),), daemon=True, name="orphan-check"
    ).start()
    from stream.assemble import PipelineConfig, run_pipeline
    from stream.errors import EmostreamError
    from stream.process import NativeStderrFilter, exit_now_if_threads_linger, quiet_native_logs

    config = PipelineConfig(**options | {"connect": frontend, "restarts": restarts})
    native = None
    if level > logging.DEBUG:
        quiet_native_logs()
        native = NativeStderrFilter()
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s camera={config.camera_id} %(name)s: %(message)s",
    )
    try:
        code = run_pipeline(config)
    except EmostreamError as exc:
        logging.getLogger("stream.site").error("camera %s: %s", config.camera_id, exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 0
    logging.shutdown()
    sys.stdout.flush()
    if native is not None:
        native.close()
    exit_now_if_threads_linger(code)
    sys.exit(code)
