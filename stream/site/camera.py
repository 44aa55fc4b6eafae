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

_ORPHAN_CHECK_S = 1.0


def _stop_when_orphaned(parent: int) -> None:
    while True:
        time.sleep(_ORPHAN_CHECK_S)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def camera_main(argv: list[str], frontend: str, restarts: int, level: int) -> None:
    """``emostream run`` with ``argv``, publishing into the broker at ``frontend``; exits."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, _interrupt)
    threading.Thread(
        target=_stop_when_orphaned, args=(os.getppid(),), daemon=True, name="orphan-check"
    ).start()
    from stream.cli import exit_now_if_threads_linger, quiet_native_logs
    from stream.commands.run import build_run_parser, run_pipeline
    from stream.errors import EmostreamError

    args = build_run_parser().parse_args([*argv, "--connect", frontend])
    if level > logging.DEBUG:
        quiet_native_logs()
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s camera={args.camera_id} %(name)s: %(message)s",
    )
    try:
        code = run_pipeline(args, args.source, args.camera_id, restarts=restarts)
    except EmostreamError as exc:
        logging.getLogger("stream.site").error("camera %s: %s", args.camera_id, exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 0
    logging.shutdown()
    sys.stdout.flush()
    exit_now_if_threads_linger(code)
    sys.exit(code)
