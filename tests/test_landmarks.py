"""The face mesh: its shipped model, the pose and openness read from it, and its cadence.

Faces are the astronaut photo and what a test makes of it: turned in the plane with OpenCV, its
eyes painted over, and turned about the vertical axis by moving the mesh's own points in 3D and
warping the photo piecewise to follow them. FER2013 val's profile faces (``../shared``) check
that a face seen from the side is not frontal.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.transform import PiecewiseAffineTransform, warp

from stream.errors import ModelError
from stream.faces.detector import Detection, FaceDetector
from stream.faces.geometry import (
    FRONTAL_YAW_DEG,
    IRIS_RADIUS,
    LEFT_EYE,
    RIGHT_EYE,
    FaceGeometry,
    eye_turn,
    head_pose,
    read_geometry,
)
from stream.faces.iris import EYE_CORNERS
from stream.faces.landmark_model import default_landmarks_dir
from stream.faces.mesh import FaceMesh, Mesh
from stream.faces.tracker import IouTracker
from stream.models import load_models
from stream.publish import schema
from stream.recognizer import Recognizer
from tests.damage import damaged_copy
from tests.test_pipeline import emostream, finish, free_endpoint
from tests.test_recognizer import Counting

SHARED_VAL = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013" / "val"


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    detector = FaceDetector("short", min_score=0.5, max_faces=4)
    yield detector
    detector.close()


@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    return FaceMesh()


@pytest.fixture(scope="module")
def gaze_mesh() -> FaceMesh:
    return FaceMesh(gaze=True)


def read(image: np.ndarray, detector: FaceDetector, mesh: FaceMesh) -> tuple[Mesh, FaceGeometry]:
    found = detector.detect_bgr(image)
    assert len(found) == 1
    result = mesh.run(image, found[0])
    assert result is not None
    return result, read_geometry(result.points, result.irises)


def turned(image: np.ndarray, points: np.ndarray, degrees: float) -> np.ndarray:
    """The photo with its face turned about the vertical axis (positive: to the image's right).

    The mesh's points rotate in 3D and the photo is warped piecewise to their new places; the
    head's outline stays, so the mesh reads less than the angle asked, but with its sign.
    """
    height, width = image.shape[:2]
    centre = points.mean(axis=0)
    angle = np.radians(degrees)
    x = centre[0] + (points[:, 0] - centre[0]) * np.cos(angle)
    x -= (points[:, 2] - centre[2]) * np.sin(angle)
    moved = np.column_stack([x, points[:, 1]])
    frame = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1],
                      [width / 2, 0], [width / 2, height - 1], [0, height / 2],
                      [width - 1, height / 2]])  # fmt: skip
    transform = PiecewiseAffineTransform.from_estimate(
        np.vstack([moved, frame]), np.vstack([points[:, :2], frame])
    )
    out = warp(image, transform, output_shape=image.shape[:2], preserve_range=True)
    return np.ascontiguousarray(out.astype(np.uint8))


def rotate_points(points: np.ndarray, yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    """The mesh's points turned rigidly about its centre: yaw about the vertical, pitch about
    the horizontal axis (signs as :mod:`stream.faces.geometry` reads them)."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    turn = np.array([[np.cos(yaw), 0, -np.sin(yaw)], [0, 1, 0], [np.sin(yaw), 0, np.cos(yaw)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(pitch), np.sin(pitch)],
                     [0, -np.sin(pitch), np.cos(pitch)]])  # fmt: skip
    centre = points.mean(axis=0)
    return ((points - centre) @ (tilt @ turn).T + centre).astype(np.float32)


def test_the_mesh_fits_the_face_it_is_given(astronaut, detector, mesh) -> None:
    found, geometry = read(astronaut, detector, mesh)
    assert found.points.shape == (468, 3) and found.presence > 0.9
    x, y, w, h = detector.detect_bgr(astronaut)[0].box
    px, py = found.points[:, 0] / 512, found.points[:, 1] / 512
    assert ((px > x - 0.2 * w) & (px < x + 1.2 * w) & (py > y - 0.3 * h) & (py < y + 1.3 * h)).all()
    assert geometry.frontal and abs(geometry.yaw) < 10 and abs(geometry.roll) < 8
    assert min(geometry.eyes_open) > 0.7  # she looks at the camera, eyes open


def test_roll_follows_a_turn_in_the_plane(astronaut, detector, mesh) -> None:
    upright = read(astronaut, detector, mesh)[1]
    for degrees in (20, -20):
        matrix = cv2.getRotationMatrix2D((256, 256), degrees, 1.0)  # anticlockwise for +
        rotated = cv2.warpAffine(astronaut, matrix, (512, 512), borderMode=cv2.BORDER_REPLICATE)
        tilted = read(rotated, detector, mesh)[1]
        assert tilted.roll - upright.roll == pytest.approx(degrees, abs=5)


def test_a_turned_face_and_its_mirror_read_opposite_yaws(astronaut, detector, mesh) -> None:
    points = read(astronaut, detector, mesh)[0].points
    right = turned(astronaut, points, 30)
    left = np.ascontiguousarray(right[:, ::-1])
    yaw_right, yaw_left = read(right, detector, mesh)[1].yaw, read(left, detector, mesh)[1].yaw
    assert yaw_right > 10 and yaw_left < -10
    assert yaw_right == pytest.approx(-yaw_left, abs=5)
    assert read(turned(astronaut, points, -30), detector, mesh)[1].yaw < -10


def test_pose_from_points_turned_in_3d(astronaut, detector, mesh) -> None:
    points = read(astronaut, detector, mesh)[0].points
    yaw0, pitch0, _ = head_pose(points)
    for degrees in (25.0, 60.0, -60.0):
        yaw, pitch, _ = head_pose(rotate_points(points, yaw_deg=degrees))
        assert yaw - yaw0 == pytest.approx(degrees, abs=2) and pitch == pytest.approx(pitch0, abs=3)
    away = read_geometry(rotate_points(points, yaw_deg=60.0))
    assert not away.frontal
    assert not read_geometry(rotate_points(points, pitch_deg=50.0)).frontal
    assert read_geometry(rotate_points(points, yaw_deg=FRONTAL_YAW_DEG / 2)).frontal


def test_painted_eyes_read_less_open(astronaut, detector, mesh) -> None:
    found, original = read(astronaut, detector, mesh)
    painted = astronaut.copy()
    for eye in (RIGHT_EYE, LEFT_EYE):
        corners = found.points[list(eye), :2]
        centre = corners.mean(axis=0).astype(int)
        radius = int(np.linalg.norm(corners[0] - corners[1]) * 0.7)
        skin = tuple(int(v) for v in astronaut[centre[1] + 3 * radius, centre[0]])
        cv2.ellipse(painted, tuple(centre), (radius, radius // 2), 0, 0, 360, skin, -1)
    closed = read(painted, detector, mesh)[1]
    for before, after in zip(original.eyes_open, closed.eyes_open, strict=True):
        assert after < before - 0.2
    assert closed.mouth_open == pytest.approx(original.mouth_open, abs=0.1)


def test_fer_profile_faces_are_not_frontal(mesh) -> None:
    """Side views among FER2013 val's faces: the mesh must not call them frontal."""
    if not SHARED_VAL.is_dir():
        pytest.skip("../shared/datasets/fer2013 is not here")
    whole = Detection((0.0, 0.0, 1.0, 1.0), 1.0, (0.3, 0.4), (0.7, 0.4))
    yaws = []
    for path in sorted(SHARED_VAL.glob("*/*.jpg"))[:600]:
        found = mesh.run(cv2.imread(str(path)), whole)
        if found is not None:
            yaws.append(head_pose(found.points)[0])
    yaws_array = np.abs(np.array(yaws))
    assert len(yaws) > 500
    assert 0.02 < np.mean(yaws_array > FRONTAL_YAW_DEG) < 0.5  # some side views, most frontal
    assert np.max(yaws_array) > 45


def test_a_face_the_mesh_cannot_read_keeps_its_label(astronaut, model_dir: Path, detector, mesh,
                                                     monkeypatch) -> None:  # fmt: skip
    recognizer = Recognizer(load_models(model_dir), detector, IouTracker(), mesh=mesh)
    monkeypatch.setattr(mesh, "run", lambda *_: None)
    (face,) = recognizer.recognize(astronaut).faces
    message = face.to_message(recognizer.labels, send_code=False)
    assert message["label"] in recognizer.labels
    assert (message["pose"], message["eyes_open"], message["mouth_open"]) == (None, None, None)
    assert message["frontal"] is None

    def broken(*_):
        raise RuntimeError("the interpreter failed")

    monkeypatch.setattr(mesh, "run", broken)
    recognizer = Recognizer(load_models(model_dir), detector, IouTracker(), mesh=mesh)
    assert recognizer.recognize(astronaut).faces[0].geometry is None


def test_the_mesh_runs_on_its_cadence_per_track(astronaut, model_dir: Path, detector, mesh,
                                                monkeypatch) -> None:  # fmt: skip
    counted = Counting(mesh.run)
    monkeypatch.setattr(mesh, "run", counted)
    recognizer = Recognizer(load_models(model_dir), detector, IouTracker(), mesh=mesh, mesh_every=4)
    messages = []
    for _ in range(9):
        (face,) = recognizer.recognize(astronaut).faces
        messages.append(face.to_message(recognizer.labels, False, (512, 512), send_mesh=True))
    assert counted.calls == 3  # frames 0, 4 and 8
    assert all(m["frontal"] is True and m["pose"] is not None for m in messages)
    assert len(messages[0]["mesh"]) == 468 and all(0 <= v <= 1 for v in messages[0]["mesh"][0][:2])
    payload = schema.frame_message("lab", 1, 1.0, 1.0, 512, 512, messages[:1], {"total": 1.0})
    decoded = schema.decode(schema.frame_topic("lab"), schema.encode(payload))
    assert decoded["schema"] == schema.FRAME_SCHEMA
    assert set(decoded["faces"][0]["pose"]) == {"yaw", "pitch", "roll"}


def test_a_turned_face_is_uncertain(astronaut, model_dir: Path, detector, mesh,
                                    monkeypatch) -> None:  # fmt: skip
    real = mesh.run

    def away(*args):
        found = real(*args)
        return Mesh(rotate_points(found.points, yaw_deg=70.0), found.presence)

    monkeypatch.setattr(mesh, "run", away)
    recognizer = Recognizer(load_models(model_dir), detector, IouTracker(), mesh=mesh)
    (face,) = recognizer.recognize(astronaut).faces
    assert face.geometry is not None and not face.geometry.frontal and face.uncertain


def moved_irises(image: np.ndarray, irises: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The photo with a small square about each iris centre pasted ``dx``, ``dy`` pixels away:
    the eyes look elsewhere, the lids and corners stay."""
    out = image.copy()
    r = 5
    for x, y in np.round(irises[:, 0]).astype(int):
        out[y - r + dy : y + r + 1 + dy, x - r + dx : x + r + 1 + dx] = image[
            y - r : y + r + 1, x - r : x + r + 1
        ]
    return out


def eyes_at(centres: np.ndarray, width: float) -> np.ndarray:
    """Iris model output by hand: each eye's iris at ``centres``, its corners on a level line
    ``width`` apart about the eye's middle at (115, 100) and (175, 100)."""
    eyes = []
    for centre, middle in zip(centres, (115.0, 175.0), strict=True):
        eyes.append([centre, (middle - width / 2, 100.0), (middle + width / 2, 100.0)])
    return np.array(eyes)


def test_eye_turn_from_points() -> None:
    """Irises placed on a level, frontal eye by hand read the angles they were placed at."""
    width = 30.0
    points = np.zeros((468, 3), np.float32)
    for (start, end), middle in zip(EYE_CORNERS, (115.0, 175.0), strict=True):
        points[start] = (middle - width / 2, 100.0, 0.0)
        points[end] = (middle + width / 2, 100.0, 0.0)
    centres = np.array([[115.0, 100.0], [175.0, 100.0]])
    shift = IRIS_RADIUS * width * np.sin(np.radians(20.0))
    cases = {
        (0.0, 0.0): centres,
        (20.0, 0.0): centres + np.array([shift, 0.0]),  # to the image's right
        (0.0, 20.0): centres + np.array([0.0, -shift]),  # up
    }
    for expected, placed in cases.items():
        assert eye_turn(points, eyes_at(placed, width)) == pytest.approx(expected, abs=1e-3)
    apart = eyes_at(centres + np.array([(shift, 0.0), (-shift, 0.0)]), width)
    assert eye_turn(points, apart, (1.0, 0.0)) == pytest.approx((20.0, 0.0), abs=1e-3)
    assert eye_turn(points, apart) == pytest.approx((0.0, 0.0), abs=1e-3)
    assert eye_turn(points, eyes_at(centres, width), (0.1, 0.0)) is None  # both shut: no gaze


def test_gaze_follows_the_irises(astronaut, detector, gaze_mesh) -> None:
    found, looking = read(astronaut, detector, gaze_mesh)
    assert found.irises is not None and looking.gaze is not None
    for iris, first, second in found.irises:
        assert first[0] < iris[0] < second[0]  # each iris between its eye's corners
    assert max(abs(v) for v in looking.gaze) < 15  # she looks at the camera
    right = read(moved_irises(astronaut, found.irises, 3, 0), detector, gaze_mesh)[1]
    left = read(moved_irises(astronaut, found.irises, -3, 0), detector, gaze_mesh)[1]
    up = read(moved_irises(astronaut, found.irises, 0, -2), detector, gaze_mesh)[1]
    assert right.gaze is not None and left.gaze is not None and up.gaze is not None
    assert right.gaze[0] > looking.gaze[0] + 6 and left.gaze[0] < looking.gaze[0] - 6
    assert up.gaze[1] > looking.gaze[1] + 2
    mirrored = read(np.ascontiguousarray(astronaut[:, ::-1]), detector, gaze_mesh)[1]
    assert mirrored.gaze is not None
    assert mirrored.gaze[0] == pytest.approx(-looking.gaze[0], abs=3)
    assert mirrored.gaze[1] == pytest.approx(looking.gaze[1], abs=3)


def test_shut_eyes_have_no_gaze(astronaut, detector, gaze_mesh, monkeypatch) -> None:
    found = read(astronaut, detector, gaze_mesh)[0]
    shut = found.points.copy()
    for eye in (RIGHT_EYE, LEFT_EYE):
        shut[eye[2]] = shut[eye[3]]  # upper lid on the lower
    assert found.irises is not None
    geometry = read_geometry(shut, found.irises)
    assert max(geometry.eyes_open) == 0.0 and geometry.gaze is None


def damaged_landmarks(tmp_path: Path, damage: str, name: str = "mesh") -> Path:
    return damaged_copy(default_landmarks_dir(), tmp_path / "landmarks", name, damage)


DAMAGE = {
    "missing": "face mesh model not found",
    "empty": "does not match the sha256",
    "junk, re-signed": "is not a model LiteRT can load",
    "unlisted": "missing or has a bad field",
    "no manifest": "no manifest.json",
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_broken_landmark_folder_is_one_line(damage: str, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=DAMAGE[damage]) as raised:
        FaceMesh(damaged_landmarks(tmp_path, damage))
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("damage", [d for d in DAMAGE if d != "no manifest"])
def test_a_broken_iris_model_is_one_line_only_with_gaze(damage: str, tmp_path: Path) -> None:
    folder = damaged_landmarks(tmp_path, damage, "iris")
    FaceMesh(folder)  # without gaze the iris model is never read
    expected = DAMAGE[damage].replace("face mesh", "iris")
    with pytest.raises(ModelError, match=expected) as raised:
        FaceMesh(folder, gaze=True)
    assert "\n" not in str(raised.value)


def test_run_with_a_broken_mesh_stops_with_one_line(make_clip, model_dir: Path, tmp_path) -> None:
    folder = damaged_landmarks(tmp_path, "junk, re-signed")
    process = emostream(
        "run", "--source", str(make_clip(frames=4)), "--publish", free_endpoint(),
        model_dir=model_dir, env={**os.environ, "EMOSTREAM_LANDMARK_MODELS": str(folder)},
    )  # fmt: skip
    code, _, err = finish(process, timeout=90)
    lines = [line for line in err.splitlines() if line.strip() and "absl::" not in line]
    assert code != 0 and len(lines) == 1, err
    assert lines[0].startswith("emostream run: error:") and DAMAGE["junk, re-signed"] in lines[0]
    off = emostream(
        "run", "--source", str(make_clip(frames=4)), "--publish", free_endpoint(),
        "--landmarks", "off", model_dir=model_dir,
        env={**os.environ, "EMOSTREAM_LANDMARK_MODELS": str(folder)},
    )  # fmt: skip
    assert finish(off, timeout=90)[0] == 0  # without the mesh, its folder is never read


def test_gaze_without_the_mesh_is_one_line(make_clip, model_dir: Path) -> None:
    process = emostream(
        "run", "--source", str(make_clip(frames=4)), "--publish", free_endpoint(),
        "--landmarks", "off", "--gaze", model_dir=model_dir,
    )  # fmt: skip
    code, _, err = finish(process, timeout=90)
    lines = [line for line in err.splitlines() if line.strip() and "absl::" not in line]
    assert code != 0 and lines == [
        "emostream run: error: --gaze needs the face mesh: drop --landmarks off"
    ]
