"""``run --metrics``: a real scrape of a running pipeline, whose numbers move with the stream."""

from __future__ import annotations

import argparse
import signal
import socket
import time
from pathlib import Path

import pytest

from stream.metrics import listen_address
from tests.test_mqtt import scrape
from tests.test_pipeline import emostream, finish, free_endpoint
from tests.test_rtsp import _free_port

START_S = 90.0


def wait_for(port: int, ready) -> dict[str, float]:
    deadline = time.monotonic() + START_S
    while True:
        try:
            values = scrape(port)
            if ready(values):
                return values
        except OSError:
            pass
        assert time.monotonic() < deadline, "metrics never showed what was expected"
        time.sleep(0.2)


def test_run_serves_metrics_that_move_with_the_stream(make_clip, model_dir: Path) -> None:
    port = _free_port()
    process = emostream(
        "run", "--source", str(make_clip(frames=24)), "--loop", "--camera-id", "lobby",
        "--publish", free_endpoint(), "--metrics", f"127.0.0.1:{port}", model_dir=model_dir,
    )  # fmt: skip
    try:
        frames = 'emostream_frames_total{camera="lobby"}'
        first = wait_for(port, lambda v: v.get(frames, 0) > 0)
        second = wait_for(port, lambda v: v[frames] > first[frames] + 10)
    finally:
        process.send_signal(signal.SIGTERM)
        code, _, err = finish(process, timeout=START_S)
    assert code == 0, err
    faces = 'emostream_faces_total{camera="lobby"}'
    assert second[faces] > first[faces]
    assert second['emostream_fps{camera="lobby"}'] > 0
    assert second['emostream_source_up{camera="lobby"}'] == 1.0
    for name in ("dropped_source", "dropped_socket", "reconnects", "errors"):
        assert f'emostream_{name}_total{{camera="lobby"}}' in second
    for stage in ("capture", "detect", "encode", "total"):
        count = f'emostream_stage_latency_seconds_count{{camera="lobby",stage="{stage}"}}'
        assert second[count] > first.get(count, 0)
    (info,) = [key for key in second if key.startswith("emostream_model_info{")]
    assert 'detector="short"' in info and 'delegate="cpu"' in info and "encoder_sha256=" in info


def test_metrics_address_is_checked_and_a_busy_port_is_one_line(make_clip, model_dir: Path) -> None:
    assert listen_address("127.0.0.1:9100") == ("127.0.0.1", 9100)
    assert listen_address("[::1]:9100") == ("::1", 9100)
    assert listen_address("9100") == ("127.0.0.1", 9100)  # a bare port stays on loopback
    for bad in ("host:", "host:99999", ":80"):
        with pytest.raises(argparse.ArgumentTypeError, match="HOST:PORT"):
            listen_address(bad)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        process = emostream(
            "run", "--source", str(make_clip(frames=4)), "--publish", free_endpoint(),
            "--metrics", f"127.0.0.1:{busy.getsockname()[1]}", model_dir=model_dir,
        )  # fmt: skip
        code, _, err = finish(process, timeout=START_S)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1, err
    assert lines[0].startswith("emostream run: error: cannot serve metrics on 127.0.0.1:")
