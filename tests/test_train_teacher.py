"""The teacher CSV: a good file, and one line naming the file and the line for each fault."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from train.data import DataError
from train.labels import LABELS
from train.teacher import is_teacher_csv, load_teacher_csv

HEADER = "file," + ",".join(LABELS)
ROW_A = "angry/0.png,0.7,0.05,0.05,0.05,0.05,0.05,0.05"
ROW_B = "happy/1.png,0.0,0.0,0.0,0.9,0.0,0.0,0.1"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("angry/0.png", "happy/1.png"):
        path = tmp_path / "train" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.zeros((48, 48), np.uint8))
    return tmp_path / "train"


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "teacher.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_good_file_gives_rows_in_the_order_asked(tmp_path: Path, folder: Path) -> None:
    table = load_teacher_csv(write(tmp_path, HEADER, ROW_A, ROW_B), folder)
    rows = table.for_files(["happy/1.png", "angry/0.png"])
    assert rows.shape == (2, 7) and rows.dtype == np.float32
    np.testing.assert_allclose(rows[0, [3, 6]], [0.9, 0.1])
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(DataError, match="has no row for sad/2.png"):
        table.for_files(["angry/0.png", "sad/2.png"])
    assert is_teacher_csv("../shared/datasets/fer2013/teacher.csv")
    assert not is_teacher_csv("models/small")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((HEADER.replace("neutral", "calm"), ROW_A), r"teacher.csv:1: header must be file,angry"),
        ((HEADER, ROW_A, "happy/1.png,0.5,0.5"), r"teacher.csv:3: 3 columns, expected 8"),
        ((HEADER, ROW_A.replace("angry/0", "angry/9")), r"teacher.csv:2: angry/9.png is not in"),
        ((HEADER, ROW_B.replace("0.1", "0.3")), r"teacher.csv:2: the probabilities sum to 1.2"),
        ((HEADER, ROW_A.replace("0.7", "x")), r"teacher.csv:2: probabilities must be numbers"),
        ((HEADER, ROW_B.replace("0.9", "1.9").replace("0.1", "-0.9")), r"between 0 and 1"),
        ((HEADER, ROW_A, ROW_A), r"teacher.csv:3: a second row for angry/0.png"),
        ((HEADER,), r"teacher.csv has no rows"),
    ],
)
def test_each_fault_is_one_line_naming_the_file_and_line(
    tmp_path: Path, folder: Path, lines: tuple[str, ...], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        load_teacher_csv(write(tmp_path, *lines), folder)


def test_a_missing_file_is_one_line(tmp_path: Path, folder: Path) -> None:
    with pytest.raises(DataError, match="cannot read teacher file .*nowhere.csv"):
        load_teacher_csv(tmp_path / "nowhere.csv", folder)
