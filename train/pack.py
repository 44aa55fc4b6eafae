"""Everything a training run needs, in one folder that a lent GPU machine can take along.

A ``device`` call carries at most 64 MiB and the machine cannot reach ``../shared``. ``pack``
writes ``faces.npz`` (every training face, and with ``--with-val`` every val face, as its
original image file's bytes: FER2013's faces are JPEGs of 1–2 KB, 48 MiB in all, where the
decoded uint8 pixels would be 74 MiB and compress to 68), the FER+ votes, the val-in-train
list, a teacher CSV if the config names one, and the config with its paths pointing into the
folder. ``unpack`` writes the folders back on
the machine, byte for byte, so every loader and check runs there exactly as here.
See ``train/GPU.md`` for the whole round trip.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from train.config import TrainConfig, dump_config, load_config
from train.data import IMAGE_SUFFIXES, DataError
from train.teacher import is_teacher_csv

MAX_PACK_MIB = 60
FACES = "faces.npz"
SPLITS = ("train", "val")
FILES = {"votes": "ferplus.csv", "val_duplicates": "val-in-train.txt"}


def _image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"no such data folder: {folder}")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise DataError(f"{folder} holds no face images")
    return files


def pack(config: Path, out: Path, max_mib: float = MAX_PACK_MIB, with_val: bool = False) -> Path:
    """Write the pack for ``config`` into ``out``; refuse one over ``max_mib`` with one line.

    Fitting needs train only (the holdout comes out of it); val, for evaluating and reporting
    here afterwards, comes along only ``with_val``: its 6 MiB can decide whether the pack, the
    repository and Keras' wheels fit one call.
    """
    cfg = load_config(config)
    d = cfg.data
    out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    splits = (
        (("train", Path(d.train)), ("val", Path(d.val)))
        if with_val
        else (("train", Path(d.train)),)
    )
    for split, folder in splits:
        files = _image_files(folder)
        blobs = [p.read_bytes() for p in files]
        arrays[f"{split}_bytes"] = np.frombuffer(b"".join(blobs), np.uint8)
        arrays[f"{split}_ends"] = np.cumsum([len(b) for b in blobs], dtype=np.int64)
        names = "\n".join(p.relative_to(folder).as_posix() for p in files).encode()
        arrays[f"{split}_names"] = np.frombuffer(names, np.uint8)  # UTF-8, not UTF-32: 4x less
    np.savez(out / FACES, **arrays)
    data: dict[str, Any] = {"train": "data/train", "val": "data/val" if with_val else ""}
    for key, name in FILES.items():
        source = Path(getattr(d, key))
        if key == "votes" and d.labels != "ferplus":
            continue
        if not source.is_file():
            raise DataError(f"no such file for [data] {key}: {source}")
        shutil.copyfile(source, out / name)
        data[key] = name
    distill = cfg.distill
    if is_teacher_csv(distill.teacher):
        teacher = Path(distill.teacher).expanduser()
        if not teacher.is_file():
            raise DataError(f"no such teacher file: {teacher}")
        shutil.copyfile(teacher, out / "teacher.csv")
        distill = dataclasses.replace(distill, teacher="teacher.csv")
    packed = dataclasses.replace(cfg, data=dataclasses.replace(d, **data), distill=distill)
    (out / "config.toml").write_text(dump_config(packed))
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 2**20
    if size > max_mib:
        raise DataError(
            f"the pack in {out} is {size:.1f} MiB, over the {max_mib:g} MiB a device call carries"
        )
    return out


def unpack(pack_dir: Path, to: Path) -> Path:
    """The pack's faces as image folders under ``to``, and its config with absolute paths."""
    faces = pack_dir / FACES
    if not faces.is_file():
        raise DataError(f"{pack_dir} is not a pack: no {FACES} (python -m train pack makes one)")
    with np.load(faces) as arrays:
        for split in (s for s in SPLITS if f"{s}_bytes" in arrays):
            blob, ends = arrays[f"{split}_bytes"], arrays[f"{split}_ends"]
            starts = np.concatenate([[0], ends[:-1]])
            names = arrays[f"{split}_names"].tobytes().decode().split("\n")
            for name, start, end in zip(names, starts, ends, strict=True):
                path = to / "data" / split / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(blob[start:end].tobytes())
    cfg: TrainConfig = load_config(pack_dir / "config.toml")
    d = cfg.data
    data: dict[str, Any] = {
        key: str((to / getattr(d, key)).resolve()) for key in SPLITS if getattr(d, key)
    }
    for key, name in FILES.items():
        if (pack_dir / name).is_file():
            shutil.copyfile(pack_dir / name, to / name)
            data[key] = str((to / name).resolve())
    distill = cfg.distill
    if is_teacher_csv(distill.teacher):
        shutil.copyfile(pack_dir / "teacher.csv", to / "teacher.csv")
        distill = dataclasses.replace(distill, teacher=str((to / "teacher.csv").resolve()))
    unpacked = dataclasses.replace(cfg, data=dataclasses.replace(d, **data), distill=distill)
    (to / "config.toml").write_text(dump_config(unpacked))
    return to / "config.toml"
