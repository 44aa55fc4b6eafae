"""The bridge's rules without a broker: changes, the rate limit, events, offline, resync."""

from __future__ import annotations

import json
import threading

from stream.mqtt.bridge import Bridge, summarise
from stream.mqtt.topics import LABELS, Topics, safe


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frame(camera: str, number: int, *faces: tuple[int, str, float]) -> dict:
    out = []
    for track, label, p in faces:
        probs = {name: (p if name == label else (1 - p) / 6) for name in LABELS}
        out.append({"id": track, "label": label, "confidence": p, "probs": probs})
    return {"camera": camera, "frame": number, "captured_at": 1000.0 + number, "faces": out}


def topics_of(messages) -> list[str]:
    return [m.topic for m in messages]


def test_first_frame_announces_the_camera_then_states_follow_the_rate_limit() -> None:
    clock = Clock()
    bridge = Bridge(Topics(), rate=2.0, clock=clock)
    first = bridge.frame(frame("lobby", 0, (1, "happy", 0.8)))
    assert sum(t.startswith("homeassistant/") for t in topics_of(first)) == 4
    assert "emostream/lobby/availability" in topics_of(first)
    assert topics_of(first)[-1] == "emostream/lobby/state"
    clock.now += 0.1  # changed, but too soon: held back
    assert bridge.frame(frame("lobby", 1, (1, "happy", 0.6))) == []
    clock.now += 0.1
    assert bridge.frame(frame("lobby", 2, (1, "happy", 0.5))) == []
    clock.now += 0.4  # due: the latest state, not the one held back first
    (state,) = bridge.tick()
    payload = json.loads(state.payload)
    assert state.retain and payload["frame"] == 2 and payload["confidence"] == 0.5
    clock.now += 5.0  # nothing changed: nothing sent
    assert bridge.frame(frame("lobby", 3, (1, "happy", 0.5))) == [] and bridge.tick() == []


def test_a_label_change_on_a_track_is_one_event() -> None:
    bridge = Bridge(Topics(), rate=100.0, clock=Clock())
    bridge.frame(frame("lobby", 0, (1, "neutral", 0.7), (2, "happy", 0.9)))
    out = bridge.frame(frame("lobby", 1, (1, "sad", 0.6), (2, "happy", 0.9), (3, "fear", 0.5)))
    events = [json.loads(m.payload) for m in out if m.topic == "emostream/lobby/event"]
    assert events == [
        {"camera": "lobby", "track": 1, "from": "neutral", "to": "sad", "event_type": "sad",
         "confidence": 0.6, "time": 1001.0}
    ]  # fmt: skip


def test_a_silent_camera_goes_offline_and_comes_back() -> None:
    clock = Clock()
    bridge = Bridge(Topics(), offline_after=10.0, clock=clock)
    bridge.frame(frame("door", 0))
    clock.now += 11.0
    (offline,) = bridge.tick()
    assert offline.topic == "emostream/door/availability" and offline.payload == b"offline"
    back = bridge.stats({"camera": "door"})
    assert [(m.topic, m.payload) for m in back] == [("emostream/door/availability", b"online")]


def test_resync_resends_everything_retained() -> None:
    bridge = Bridge(Topics(prefix="site"), clock=Clock())
    bridge.frame(frame("a/b#", 0, (1, "happy", 0.8)))
    topics = topics_of(bridge.resync())
    assert topics[0] == "site/availability"
    assert "site/a_b_/state" in topics and "site/a_b_/availability" in topics
    assert "homeassistant/sensor/emostream_a_b_/expression/config" in topics
    assert Bridge(Topics(discovery_prefix=None)).frame(frame("x", 0))[0].topic == (
        "emostream/x/availability"
    )


def test_summary_of_faces_and_of_none() -> None:
    two = summarise(frame("c", 5, (1, "happy", 0.9), (2, "sad", 0.5)))
    assert two["faces"] == 2 and two["dominant"] == "happy"
    assert two["confidence"] == round((0.9 + 0.5 / 6) / 2, 4)
    none = summarise(frame("c", 6))
    assert none == {"camera": "c", "faces": 0, "dominant": "none", "confidence": 0.0,
                    "probs": {}, "looking": 0, "poses": [], "frame": 6,
                    "updated_at": 1006.0}  # fmt: skip
    assert two["looking"] is None and two["poses"] == []  # a pipeline with --landmarks off
    assert safe("lobby 1/+#") == "lobby_1___"


def test_the_face_mesh_reading_rides_in_the_state_and_a_look_away_is_a_change() -> None:
    clock = Clock()
    bridge = Bridge(Topics("emostream", "homeassistant"), rate=100.0, clock=clock)
    looking = frame("c", 1, (1, "happy", 0.9), (2, "sad", 0.9))
    for face, frontal in zip(looking["faces"], (True, True), strict=True):
        face |= {"pose": {"yaw": 5.0, "pitch": 1.0, "roll": 0.0}, "eyes_open": [0.9, 0.9],
                 "mouth_open": 0.2, "frontal": frontal}  # fmt: skip
    looking["faces"][0]["gaze"] = {"yaw": -2.0, "pitch": 3.5}  # that camera runs --gaze
    state = summarise(looking)
    assert state["looking"] == 2
    assert state["poses"][0] == {"id": 1, "yaw": 5.0, "pitch": 1.0, "roll": 0.0,
                                 "eyes_open": [0.9, 0.9], "mouth_open": 0.2,
                                 "frontal": True, "gaze": {"yaw": -2.0, "pitch": 3.5}}  # fmt: skip
    assert state["poses"][1]["gaze"] is None  # a 1.1 publisher, or no --gaze
    assert "emostream/c/state" in topics_of(bridge.frame(looking))
    clock.now += 1.0
    assert "emostream/c/state" not in topics_of(bridge.frame(looking))  # nothing changed
    looking["faces"][1] |= {"frontal": False, "pose": {"yaw": 55.0, "pitch": 1.0, "roll": 0.0}}
    clock.now += 1.0
    sent = [m for m in bridge.frame(looking) if m.topic == "emostream/c/state"]
    assert len(sent) == 1 and json.loads(sent[0].payload)["looking"] == 1


def test_a_metrics_scrape_is_safe_while_cameras_are_added() -> None:
    """The scrape runs on prometheus' thread while the bridge's thread adds cameras."""
    bridge = Bridge(Topics())
    stop, failures = threading.Event(), []

    def scrape() -> None:
        while not stop.is_set():
            try:
                bridge.snapshot()
            except RuntimeError as exc:  # "dictionary changed size during iteration"
                failures.append(exc)
                return

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        for number in range(5000):
            bridge.frame(frame(f"cam{number}", 0, (1, "happy", 0.8)))
            bridge.stats({"camera": f"cam{number}", "fps": 20.0})
    finally:
        stop.set()
        scraper.join(timeout=10)
    assert failures == []
    online, heartbeats = bridge.snapshot()
    assert len(online) == len(heartbeats) == 5000 and all(online.values())
    heartbeats["cam0"] = {}  # a copy: the scrape cannot disturb the bridge either
    assert bridge.heartbeats["cam0"] == {"camera": "cam0", "fps": 20.0}
