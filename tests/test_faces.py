"""Face crops, eye alignment and the IoU tracker, on the astronaut photo and synthetic boxes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from stream.faces.crop import (
    MAX_SPACING,
    WARP_SCALE,
    CropSpec,
    _source_region,
    crop_face,
    eye_angle,
    face_matrix,
    face_side,
    warp_plan,
)
from stream.faces.detector import Detection, FaceDetector
from stream.faces.tracker import IouTracker, iou


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    detector = FaceDetector("short", min_score=0.5, max_faces=4)
    yield detector
    detector.close()


def astronaut_rgb() -> np.ndarray:
    return skimage.data.astronaut()


def test_detector_finds_the_astronaut_with_eyes_in_the_box(detector: FaceDetector) -> None:
    found = detector.detect(astronaut_rgb())
    assert len(found) == 1
    face = found[0]
    x, y, w, h = face.box
    for ex, ey in (face.right_eye, face.left_eye):
        assert x < ex < x + w and y < ey < y + h
    assert face.right_eye[0] < face.left_eye[0]  # the person's right eye is on the image's left
    assert face.score > 0.5


def test_a_bgr_frame_is_detected_as_its_rgb_twin_through_one_kept_buffer(
    detector: FaceDetector,
) -> None:
    rgb = astronaut_rgb()
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    assert detector.detect_bgr(bgr) == detector.detect(rgb)
    kept = detector._rgb
    assert detector.detect_bgr(bgr[::-1].copy()) != detector.detect(rgb)  # the new frame is read
    assert detector._rgb is kept  # the same shape reuses the buffer
    smaller = np.ascontiguousarray(cv2.resize(bgr, (256, 256)))
    assert detector.detect_bgr(smaller) == detector.detect(cv2.resize(rgb, (256, 256)))
    with pytest.raises(cv2.error):
        detector.detect_bgr(np.zeros((10, 10), np.float64))  # not a colour frame


def test_full_range_model_finds_smaller_faces_and_max_faces_caps(detector: FaceDetector) -> None:
    head = astronaut_rgb()[20:340, 65:385]
    four = np.ascontiguousarray(np.hstack([head] * 4))
    assert len(detector.detect(four)) == 0  # too small for the short-range model
    full = FaceDetector("full", min_score=0.5, max_faces=8)
    capped = FaceDetector("full", min_score=0.5, max_faces=2)
    try:
        assert len(full.detect(four)) == 4
        assert len(capped.detect(four)) == 2
    finally:
        full.close()
        capped.close()
    with pytest.raises(ValueError, match="short, full"):
        FaceDetector("huge")


def test_alignment_levels_a_rotated_face(detector: FaceDetector) -> None:
    image = astronaut_rgb()
    upright = detector.detect(image)[0]
    matrix = cv2.getRotationMatrix2D((256, 256), 20, 1.0)  # turn the photo 20° anticlockwise
    rotated = cv2.warpAffine(image, matrix, (512, 512), borderMode=cv2.BORDER_REPLICATE)
    tilted = detector.detect(rotated)[0]
    assert abs(eye_angle(upright, 512, 512)) < 8
    assert abs(eye_angle(tilted, 512, 512) - eye_angle(upright, 512, 512) + 20) < 6
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    gray_rotated = cv2.cvtColor(rotated, cv2.COLOR_RGB2GRAY)
    spec = CropSpec(1.2, -0.05)
    straight = crop_face(gray, upright, spec).astype(np.float32)
    aligned = crop_face(gray_rotated, tilted, spec).astype(np.float32)
    unaligned = crop_face(gray_rotated, tilted, CropSpec(1.2, -0.05, align_eyes=False))
    assert np.abs(aligned - straight).mean() < np.abs(unaligned - straight).mean()


def test_crop_matches_convention_on_a_known_box() -> None:
    gray = np.zeros((200, 300), np.uint8)
    gray[50:150, 100:200] = 255  # a bright 100 px square
    det = Detection((100 / 300, 50 / 200, 100 / 300, 100 / 200), 0.9, (0.4, 0.5), (0.6, 0.5))
    crop = crop_face(gray, det, CropSpec(scale=1.0, shift_y=0.0), size=48)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert crop[4:-4, 4:-4].min() > 200  # the crop is exactly the square
    wider = crop_face(gray, det, CropSpec(scale=2.0, shift_y=0.0), size=48)
    assert wider[0, 0] == 0 and wider[24, 24] == 255
    lower = crop_face(gray, det, CropSpec(scale=1.0, shift_y=0.25), size=48)
    assert lower[-4:].max() == 0 and lower[:4].min() == 255  # moved down a quarter side


def ideal_crop(bgr: np.ndarray, det: Detection, spec: CropSpec, size: int) -> np.ndarray:
    """The crop without shortcuts: the whole frame, grayscale in floats, sampled 8× finer than
    the output in each direction, each output pixel the mean of its 64 samples."""
    height, width = bgr.shape[:2]
    out = 8 * size
    matrix = face_matrix(det, width, height, spec.scale, out, spec.shift_y, spec.align_eyes)
    matrix[:, 2] += matrix[:, :2] @ (0.5, 0.5) - 0.5  # pixel edges to OpenCV's centres
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    patch = cv2.warpAffine(gray, matrix, (out, out), borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def random_detection(rng: np.random.Generator, low: float, high: float) -> Detection:
    """A box whose corner lies in [low, high) of the frame, of any size and tilt."""
    x, y = rng.uniform(low, high, 2)
    w, h = rng.uniform(0.02, 1.2, 2)
    eye = (x + rng.uniform(0, w), y + rng.uniform(0, h))
    other = (eye[0] + rng.uniform(0.01, 0.2), eye[1] + rng.uniform(-0.1, 0.1))
    return Detection((x, y, w, h), 0.9, eye, other)


def test_the_crop_matches_the_supersampled_ideal() -> None:
    """Faces inside, across the edges of and wholly outside the frame, tilted and not, from a
    quarter of the input's side to several times the frame's: the region cut, the block means
    and the grayscale conversion after them leave the crop within a few grey levels of the crop
    made the long way, and no shift of framing (a misplaced sample grid costs far more)."""
    bgr = cv2.resize(skimage.data.astronaut()[:, :, ::-1], (640, 360))
    rng = np.random.default_rng(0)
    spec = CropSpec(1.2, -0.1)
    errors = []
    for _ in range(150):
        det = random_detection(rng, -1.2, 1.2)
        for size in (48, 64):
            got = crop_face(bgr, det, spec, size)
            assert got.shape == (size, size) and got.dtype == np.uint8
            errors.append(np.abs(got - ideal_crop(bgr, det, spec, size)).mean())
    assert np.median(errors) < 1.0 and max(errors) < 4.0


def test_the_warp_plan_keeps_samples_close_and_halves_exactly() -> None:
    for side in (10.0, 48.0, 49.0, 96.0, 144.0, 145.0, 272.0, 600.0, 5000.0):
        out, shrink = warp_plan(side, 48)
        assert shrink & (shrink - 1) == 0  # a power of two: exact block means
        if side <= 48:
            assert (out, shrink) == (48, 1)
        else:
            assert out == WARP_SCALE * 48
            assert side / (shrink * out) <= MAX_SPACING  # no source pixel skipped
            assert shrink == 1 or side / (shrink * out) > MAX_SPACING / 2  # not over-shrunk


def test_the_written_out_matrix_and_region_are_opencvs() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        det = random_detection(rng, -0.5, 1.0)
        x, y, w, h = det.box
        scale, shift = rng.uniform(0.8, 2.0), rng.uniform(-0.2, 0.2)
        out = int(rng.integers(48, 193))
        side = face_side(det, 640, 360, scale)
        centre = ((x + w / 2) * 640, (y + h / 2) * 360)
        expected = cv2.getRotationMatrix2D(centre, eye_angle(det, 640, 360), out / side)
        expected[:, 2] += (out / 2 - centre[0], out / 2 - centre[1] - out / side * shift * side)
        matrix = face_matrix(det, 640, 360, scale, out, shift)
        np.testing.assert_allclose(matrix, expected, rtol=0, atol=1e-4)  # px; OpenCV rounds
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0], [out, 0], [0, out], [out, out]], np.float64)
        xy = corners @ inverse[:, :2].T + inverse[:, 2]
        low = np.floor(xy.min(axis=0)).astype(int) - 2
        high = np.ceil(xy.max(axis=0)).astype(int) + 3  # the margin, and the end is exclusive
        assert _source_region(matrix, out) == (low[0], low[1], high[0], high[1])


def test_iou() -> None:
    assert iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0
    assert iou((0, 0, 1, 1), (2, 2, 1, 1)) == 0.0
    assert iou((0, 0, 2, 1), (1, 0, 2, 1)) == pytest.approx(1 / 3)


def test_tracker_keeps_ids_and_expires_tracks() -> None:
    tracker = IouTracker(min_iou=0.3, max_missed=2)
    a, b = (0.1, 0.1, 0.2, 0.2), (0.6, 0.6, 0.2, 0.2)
    first = tracker.update([a, b])
    assert [t.id for t in first] == [1, 2]
    moved = tracker.update([(0.62, 0.6, 0.2, 0.2), (0.12, 0.1, 0.2, 0.2)])
    assert [t.id for t in moved] == [2, 1]
    for _ in range(3):
        tracker.update([])
    assert [t.id for t in tracker.update([a])] == [3]


def test_smoothing_steadies_a_flickering_label() -> None:
    tracker = IouTracker(alpha=0.3)
    happy, sad = np.eye(7)[3], np.eye(7)[4]
    track = tracker.update([(0, 0, 1, 1)])[0]
    labels = []
    for i in range(10):
        track = tracker.update([(0, 0, 1, 1)])[0]
        labels.append(int(np.argmax(track.smooth(sad if i % 4 == 3 else happy, tracker.alpha))))
    assert labels.count(3) == 10


def test_frames_reach_the_detector_at_a_64_byte_boundary() -> None:
    from stream.faces.detector import ALIGNMENT, _aligned

    buffer = np.empty(360 * 640 * 3 + 2 * ALIGNMENT, np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT + 16  # where OpenCV's frames usually sit
    frame = buffer[start : start + 360 * 640 * 3].reshape(360, 640, 3)
    frame[...] = np.arange(frame.size, dtype=np.uint64).reshape(frame.shape) % 251
    moved = _aligned(frame)
    assert moved.ctypes.data % ALIGNMENT == 0 and np.array_equal(moved, frame)
    assert _aligned(moved) is moved
