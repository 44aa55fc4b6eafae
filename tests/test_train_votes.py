"""The FER+ votes loader and the targets it gives, on files the tests write themselves."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from train.data import DataError
from train.labels import LABELS
from train.votes import VOTE_COLUMNS, distributions, load_votes, majority, usable

HEADER = "split,file," + ",".join(VOTE_COLUMNS)


def write_split(root: Path, names: list[str]) -> Path:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.zeros((48, 48), np.uint8))
    return root


def write_votes(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    return {
        "train": write_split(tmp_path / "train", ["angry/a.jpg", "happy/b.jpg"]),
        "val": write_split(tmp_path / "val", ["sad/c.jpg"]),
    }


def test_good_file_loads_each_split(tmp_path: Path, folders: dict[str, Path]) -> None:
    path = write_votes(
        tmp_path / "votes.csv",
        [
            "train,angry/a.jpg,2,0,0,1,7,0,0,0,0,0",
            "train,happy/b.jpg,0,10,0,0,0,0,0,0,0,0",
            "val,sad/c.jpg,1,0,0,9,0,0,0,0,0,0",
        ],
    )
    votes = load_votes(path, folders)
    assert votes["train"].files == ("angry/a.jpg", "happy/b.jpg")
    assert votes["val"].counts.tolist() == [[1, 0, 0, 9, 0, 0, 0, 0, 0, 0]]
    in_order = votes["train"].for_files(["happy/b.jpg", "angry/a.jpg", "missing.jpg"])
    assert in_order[:, VOTE_COLUMNS.index("happiness")].tolist() == [10, 0, 0]
    assert in_order[2].sum() == 0


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["train,angry/a.jpg,2,0,0,1,7,0,0,0,0"], "votes.csv:2: 11 columns, expected 12"),
        (["train,angry/nope.jpg,2,0,0,1,7,0,0,0,0,0"], "votes.csv:2: angry/nope.jpg is not in"),
        (
            ["train,angry/a.jpg,2,0,0,1,7,0,0,0,0,0", "test,sad/c.jpg,1,0,0,9,0,0,0,0,0,0"],
            "votes.csv:3: unknown split 'test'",
        ),
        (["train,angry/a.jpg,2,0,0,x,7,0,0,0,0,0"], "votes.csv:2: vote counts must be whole"),
        (["train,angry/a.jpg,2,0,0,-1,7,0,0,0,0,0"], "votes.csv:2: vote counts must not be"),
    ],
)
def test_malformed_rows_name_the_file_and_line(
    tmp_path: Path, folders: dict[str, Path], rows: list[str], message: str
) -> None:
    path = write_votes(tmp_path / "votes.csv", rows)
    with pytest.raises(DataError, match=message.replace("(", r"\(")) as caught:
        load_votes(path, folders)
    assert "\n" not in str(caught.value)


def test_missing_file_and_bad_header(tmp_path: Path, folders: dict[str, Path]) -> None:
    with pytest.raises(DataError, match="cannot read votes file .*nowhere.csv"):
        load_votes(tmp_path / "nowhere.csv", folders)
    bad = tmp_path / "bad.csv"
    bad.write_text("split,file,happy\n")
    with pytest.raises(DataError, match="bad.csv:1: header must be"):
        load_votes(bad, folders)


def counts(**votes: int) -> list[int]:
    return [votes.get(name, 0) for name in VOTE_COLUMNS]


def test_targets_for_hand_made_rows() -> None:
    rows = np.asarray(
        [
            counts(anger=7, neutral=2, sadness=1),  # clear anger
            counts(happiness=4, contempt=4, unknown=2),  # contempt dropped, happy only
            counts(NF=10),  # not a face: left out
            counts(unknown=5, neutral=3, fear=2),  # unknown on top: left out
            counts(unknown=4, surprise=4, fear=2),  # a tie with unknown: left out
            counts(contempt=10),  # no vote among the seven: left out
            counts(surprise=5, fear=5),  # a tie among the seven: learnt, no majority
        ]
    )
    assert usable(rows).tolist() == [True, True, False, False, False, False, True]
    shares = distributions(rows)
    angry = np.zeros(len(LABELS), np.float32)
    angry[[LABELS.index("angry"), LABELS.index("neutral"), LABELS.index("sad")]] = [0.7, 0.2, 0.1]
    np.testing.assert_allclose(shares[0], angry, atol=1e-6)
    assert shares[1][LABELS.index("happy")] == pytest.approx(1.0)
    np.testing.assert_allclose(shares[usable(rows)].sum(axis=1), 1.0, atol=1e-6)
    assert shares[5].sum() == 0
    angry_i, happy_i = LABELS.index("angry"), LABELS.index("happy")
    # Row 1 ties happiness with contempt over all ten columns, so it has no majority label.
    assert majority(rows).tolist() == [angry_i, -1, -1, -1, -1, -1, -1]
    assert majority(np.asarray([counts(happiness=6, contempt=4)])).tolist() == [happy_i]
