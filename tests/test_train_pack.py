"""A run's pack for a lent GPU: faces byte for byte, a config that reads them, a cap, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tiny_models import write_tiny_dataset
from train.config import load_config
from train.data import DataError, load_faces
from train.pack import pack, unpack


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    config = write_tiny_dataset(tmp_path / "data")
    (tmp_path / "data" / "teacher.csv").write_text("file,angry\n")  # named, copied, not read
    text = config.read_text() + f'[distill]\nteacher = "{tmp_path / "data" / "teacher.csv"}"\n'
    config.write_text(text)
    return config


def test_a_pack_unpacks_to_the_same_faces_and_a_config_that_reads_them(
    tiny: Path, tmp_path: Path
) -> None:
    packed = pack(tiny, tmp_path / "pack", with_val=True)
    assert {p.name for p in packed.iterdir()} >= {"faces.npz", "config.toml", "teacher.csv"}
    config = unpack(packed, tmp_path / "machine")
    cfg, original = load_config(config), load_config(tiny)
    for split in ("train", "val"):
        here = load_faces(getattr(original.data, split))
        there = load_faces(getattr(cfg.data, split))
        np.testing.assert_array_equal(here.images, there.images)
        np.testing.assert_array_equal(here.labels, there.labels)
        assert here.names(getattr(original.data, split)) == there.names(getattr(cfg.data, split))
    assert Path(cfg.distill.teacher).read_text() == "file,angry\n"
    assert cfg.model == original.model and cfg.finetune == original.finetune


def test_a_pack_over_its_cap_is_one_line(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"MiB, over the 0.001 MiB a device call carries"):
        pack(tiny, tmp_path / "pack", max_mib=0.001)


def test_missing_data_and_a_folder_that_is_no_pack_are_one_line(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from train.__main__ import main as train_main

    broken = tiny.with_name("broken.toml")
    broken.write_text(tiny.read_text().replace("/train", "/nowhere", 1))
    assert train_main(["pack", "--config", str(broken), "--out", str(tmp_path / "p")]) == 2
    assert train_main(["unpack", str(tmp_path), "--to", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no such data folder" in err[0] and "is not a pack" in err[1]


def test_a_pack_for_fitting_leaves_val_behind(tiny: Path, tmp_path: Path) -> None:
    config = unpack(pack(tiny, tmp_path / "pack"), tmp_path / "machine")
    cfg = load_config(config)
    assert cfg.data.val == "" and not (tmp_path / "machine" / "data" / "val").exists()
    assert len(load_faces(cfg.data.train)) == len(load_faces(load_config(tiny).data.train))
