"""Both FER loaders on data the tests write themselves, including every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from train.data import DataError, load_csv, load_faces, load_folder, stratified_split
from train.labels import LABELS


def write_folder(root: Path, per_label: int = 3, size: int = 48) -> Path:
    rng = np.random.default_rng(0)
    for label in LABELS:
        (root / label).mkdir(parents=True)
        for i in range(per_label):
            image = rng.integers(0, 256, (size, size), dtype=np.uint8)
            cv2.imwrite(str(root / label / f"{i}.png"), image)
    return root


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    return path


def pixels(n: int = 48 * 48, value: int = 7) -> str:
    return " ".join([str(value)] * n)


def test_folder_loads_every_label(tmp_path: Path) -> None:
    faces = load_folder(write_folder(tmp_path / "train"))
    assert faces.images.shape == (21, 48, 48)
    assert faces.images.dtype == np.uint8
    assert faces.counts() == {label: 3 for label in LABELS}


def test_folder_converts_colour_and_size(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "happy").mkdir(parents=True)
    cv2.imwrite(str(root / "happy" / "big.jpg"), np.full((96, 120, 3), 200, np.uint8))
    faces = load_folder(root)
    assert faces.images.shape == (1, 48, 48)
    assert faces.labels.tolist() == [LABELS.index("happy")]


def test_missing_folder_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such data folder"):
        load_folder(tmp_path / "absent")


def test_unknown_label_folder_is_named(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "train", per_label=1)
    (root / "contempt").mkdir()
    with pytest.raises(DataError, match=r"unknown label folder .*contempt"):
        load_folder(root)


def test_unreadable_image_is_named_or_skipped(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "train", per_label=1)
    bad = root / "sad" / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg"):
        load_folder(root)
    faces = load_folder(root, skip_bad=True)
    assert faces.skipped == 1
    assert len(faces) == 7


def test_csv_keeps_requested_usage(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "fer2013.csv",
        [f"3,{pixels()},Training", f"0,{pixels()},PublicTest", f"6,{pixels()},Training"],
    )
    train = load_csv(path)
    assert train.labels.tolist() == [3, 6]
    test = load_faces(f"{path}:PublicTest")
    assert test.labels.tolist() == [0]
    assert test.images.shape == (1, 48, 48)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (f"9,{pixels()},Training", "emotion"),
        (f"x,{pixels()},Training", "emotion"),
        (f"1,{pixels(99)},Training", "square"),
        ("1,1 2 x 4,Training", "integers"),
        (f"1,{pixels(value=300)},Training", "0..255"),
    ],
)
def test_malformed_csv_row_names_file_and_line(tmp_path: Path, row: str, reason: str) -> None:
    path = write_csv(tmp_path / "fer.csv", [f"2,{pixels()},Training", row])
    with pytest.raises(DataError, match=rf"fer\.csv:3: .*{reason}"):
        load_csv(path)
    skipped = load_csv(path, skip_bad=True)
    assert (len(skipped), skipped.skipped) == (1, 1)


def test_csv_without_columns_or_file(tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("label,image\n1,2\n")
    with pytest.raises(DataError, match="no 'emotion' column"):
        load_csv(path)
    with pytest.raises(DataError, match="cannot read"):
        load_csv(tmp_path / "absent.csv")


def test_stratified_split_holds_out_every_label() -> None:
    labels = np.repeat(np.arange(7), 20)
    keep, held = stratified_split(labels, 0.1, seed=1)
    assert len(set(keep) & set(held)) == 0
    assert len(keep) + len(held) == len(labels)
    assert np.bincount(labels[held]).tolist() == [2] * 7
