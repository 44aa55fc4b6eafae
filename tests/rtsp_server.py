"""A tiny RTSP server for the tests: serves one H.264 mp4 at rtsp://127.0.0.1:PORT/test.

Run it with Debian's own ``/usr/bin/python3``, which has PyGObject and the GStreamer RTSP server
bindings (the project's virtualenv does not): ``/usr/bin/python3 tests/rtsp_server.py PORT FILE``.
It prints ``ready`` once it listens. Every client gets its own pipeline, so each connection starts
at the beginning of the file, paced in real time; make the file longer than any test reads.
"""

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: rtsp_server.py PORT FILE.mp4", file=sys.stderr)
        return 2
    port, path = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    location = path.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(
        f'( filesrc location="{location}" ! qtdemux ! h264parse '
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(False)
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
