"""What training fits: the crowd's vote shares, blended with a teacher's probabilities and with
the folder labels at the weights the holdout chooses; hand-made faces and a hand-made data set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from benchmarks.accuracy.label_sources import _training_holdout
from tests.tiny_models import write_tiny_dataset
from train.config import ConfigError, load_config
from train.data import FaceSet, load_folder
from train.fit import Splits, load_splits
from train.labels import LABEL_INDEX, LABELS
from train.votes import VOTE_COLUMNS, load_votes, usable

ANGRY, SAD, NEUTRAL = LABEL_INDEX["angry"], LABEL_INDEX["sad"], LABEL_INDEX["neutral"]


def one_face_splits(folder: int | None, teacher: bool) -> Splits:
    """One face the crowd calls 70 % neutral and 30 % angry, filed under ``folder``."""
    shares = np.zeros((1, len(LABELS)), np.float32)
    shares[0, [NEUTRAL, ANGRY]] = 0.7, 0.3
    face = FaceSet(
        np.zeros((1, 48, 48), np.uint8),
        np.array([NEUTRAL]),
        targets=shares,
        folder=None if folder is None else np.array([folder]),
    )
    probs = np.eye(len(LABELS), dtype=np.float32)[[SAD]] if teacher else None
    return Splits(face, face, None, teacher=probs)


def with_votes(root: Path, votes: Callable[[], list[int]], extra: str = "") -> Path:
    """The tiny data set with a FER+ vote file (``votes()`` gives each face's ten-column row) and
    a config that learns from it; returns the config."""
    config_text = write_tiny_dataset(root).read_text()
    rows = ["split,file," + ",".join(VOTE_COLUMNS)]
    for split in ("train", "val"):
        for path in sorted((root / split).rglob("*.png")):
            cells = ",".join(str(v) for v in votes())
            rows.append(f"{split},{path.relative_to(root / split).as_posix()},{cells}")
    (root / "votes.csv").write_text("\n".join(rows) + "\n")
    config = root / "votes.toml"
    config.write_text(
        config_text.replace(
            "holdout_fraction = 0.2",
            f'holdout_fraction = 0.2\nlabels = "ferplus"\nvotes = "{root}/votes.csv"\n{extra}',
        )
    )
    return config


def test_the_folder_label_takes_its_share_after_the_teacher() -> None:
    targets = one_face_splits(ANGRY, teacher=True).blended(0.5, 0.5).training_targets()[0]
    expected = np.zeros(len(LABELS), np.float32)
    # Half of (half the votes + half the teacher), then half the folder label.
    expected[[NEUTRAL, ANGRY, SAD]] = 0.5 * 0.5 * 0.7, 0.5 * 0.5 * 0.3 + 0.5, 0.5 * 0.5
    np.testing.assert_allclose(targets, expected, atol=1e-6)
    assert targets.sum() == pytest.approx(1.0)


def test_weight_zero_leaves_the_votes_and_no_teacher_means_votes_and_folder() -> None:
    splits = one_face_splits(ANGRY, teacher=False)
    np.testing.assert_allclose(
        splits.blended(None, 0.0).training_targets(), splits.train.training_targets()
    )
    blended = splits.blended(None, 0.25).training_targets()[0]
    assert blended[ANGRY] == pytest.approx(0.75 * 0.3 + 0.25)
    assert blended[NEUTRAL] == pytest.approx(0.75 * 0.7)


def test_folder_labels_need_votes_to_blend_into() -> None:
    with pytest.raises(ValueError, match="FER\\+ vote shares"):
        one_face_splits(None, teacher=False).blended(None, 0.5)


def test_the_crowd_relabels_faces_and_each_keeps_its_folder_label(tmp_path: Path) -> None:
    """Every face is filed under its folder but the crowd votes it neutral: ``labels`` follow the
    crowd, ``folder`` the folder, row for row through the holdout split."""
    neutral = [10 if c == "neutral" else 0 for c in VOTE_COLUMNS]
    config = with_votes(tmp_path, lambda: neutral, "folder_weights = [0.0, 0.5]")
    splits = load_splits(load_config(config))
    for faces in (splits.train, splits.holdout):
        assert faces.folder is not None and (faces.labels == NEUTRAL).all()
        filed = [LABEL_INDEX[Path(source).parent.name] for source in faces.sources]
        assert faces.folder.tolist() == filed
    train = splits.train
    assert train.folder is not None
    targets = splits.blended(None, 0.5).training_targets()
    filed_share = targets[np.arange(len(train)), train.folder]
    np.testing.assert_allclose(filed_share[train.folder != NEUTRAL], 0.5)


def test_label_sources_scores_on_the_faces_training_held_out(tmp_path: Path) -> None:
    """The probe's holdout is the training's own, found again from the votes and the seed: faces
    the crowd could not label are dropped first, so a fresh random draw would not match."""
    rng = np.random.default_rng(5)
    uniform = np.full(len(VOTE_COLUMNS), 1 / len(VOTE_COLUMNS))
    config = with_votes(tmp_path, lambda: rng.multinomial(10, uniform).tolist())
    cfg = load_config(config)
    splits = load_splits(cfg)
    train = load_folder(tmp_path / "train")
    names = train.names(tmp_path / "train")
    votes = load_votes(tmp_path / "votes.csv", {"train": tmp_path / "train"})
    counts = votes["train"].for_files(names)
    keep = usable(counts)
    assert 0 < (~keep).sum() < len(keep) // 2
    fraction = cfg.data.holdout_fraction
    held = _training_holdout(counts, train.labels, "ferplus", fraction, cfg.seed)
    assert sorted(np.asarray(train.sources)[held]) == sorted(splits.holdout.sources)
    # A member that learnt from the folder labels split all of train by them.
    by_folder = load_splits(load_config(tmp_path / "tiny.toml"))
    held = _training_holdout(counts, train.labels, "fer2013", fraction, cfg.seed)
    assert sorted(np.asarray(train.sources)[held]) == sorted(by_folder.holdout.sources)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("folder_weights = [0.5]", 'needs labels = "ferplus"'),
        ('labels = "ferplus"\nfolder_weights = [1.5]', "between 0 and 1, not 1.5"),
    ],
)
def test_bad_folder_weights_are_config_errors(tmp_path: Path, data: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(f"[data]\n{data}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(config)
