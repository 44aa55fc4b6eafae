"""A tiny model family trained and exported in the suite: one tiny config per member's design.

``base`` is the plain-convolution network on FER+ votes; ``nano`` and ``small`` are the
depthwise-separable networks, distilled from the tiny ``base``: ``nano`` from its run folder,
``small`` from its exported member folder, as a later session distils from a committed member
whose run is gone with its machine; ``taught`` is nano's design distilled from a CSV of teacher
probabilities, as the members learn from ``../shared/datasets/fer2013/teacher.csv``, with the
folder labels' share of the targets chosen on the holdout too. Each is
fitted, exported as full int8 (the export's Edge TPU op check passes or it fails), evaluated,
calibrated, reported, and loaded by ``ai_edge_litert`` through the runtime.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from ai_edge_litert.interpreter import Interpreter

from stream.codes.macs import count_macs
from stream.models import load_models
from tests.tiny_models import write_tiny_dataset
from train.labels import LABELS
from train.votes import VOTE_COLUMNS

MEMBERS = {
    "base": ('block = "conv"', "filters = [4, 8]", "convs_per_block = [1, 1]"),
    "nano": ('block = "separable"', "filters = [4, 8]", "convs_per_block = [1, 2]"),
    "small": ('block = "separable"', "filters = [8, 16]", "convs_per_block = [1, 2]"),
    "taught": ('block = "separable"', "filters = [4, 8]", "convs_per_block = [1, 2]"),
}


def write_teacher_csv(root: Path) -> Path:
    """A teacher's probabilities for every training face, each row summing to 1."""
    rng = np.random.default_rng(5)
    rows = ["file," + ",".join(LABELS)]
    for path in sorted((root / "train").rglob("*.png")):
        probs = rng.dirichlet(np.ones(len(LABELS)))
        rows.append(f"{path.relative_to(root / 'train').as_posix()},"
                    + ",".join(f"{p:.6f}" for p in probs))  # fmt: skip
    (root / "teacher.csv").write_text("\n".join(rows) + "\n")
    return root / "teacher.csv"


def write_votes(root: Path) -> Path:
    rng = np.random.default_rng(3)
    rows = ["split,file," + ",".join(VOTE_COLUMNS)]
    for split in ("train", "val"):
        for path in sorted((root / split).rglob("*.png")):
            votes = rng.multinomial(10, [0.3, 0.15, 0.1, 0.1, 0.1, 0.05, 0.1, 0.04, 0.03, 0.03])
            rows.append(f"{split},{path.relative_to(root / split).as_posix()},"
                        + ",".join(map(str, votes)))  # fmt: skip
    (root / "votes.csv").write_text("\n".join(rows) + "\n")
    (root / "val-in-train.txt").write_text("angry/0.png\n")
    return root / "votes.csv"


def member_config(root: Path, base_config: str, name: str, teacher: Path | None) -> Path:
    text = base_config.replace(
        "holdout_fraction = 0.2",
        f'holdout_fraction = 0.2\nlabels = "ferplus"\nvotes = "{root}/votes.csv"\n'
        f'val_duplicates = "{root}/val-in-train.txt"'
        + ("\nfolder_weights = [0.0, 0.5]" if name == "taught" else ""),
    )
    text = text.replace(
        "filters = [4, 8]\nconvs_per_block = [1, 1]\n", "\n".join(MEMBERS[name]) + "\n"
    )
    text = text.replace("[head]\n", "[head]\nclass_weight_powers = [0.0, 0.5]\n")
    if teacher is not None:
        text += f'[distill]\nteacher = "{teacher}"\nweight = 0.5\n'
        if name == "taught":  # the holdout chooses the blend
            text += "weights = [0.3, 0.7]\n"
    path = root / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from train.__main__ import main as train_main

    root = tmp_path_factory.mktemp("family")
    base_config = write_tiny_dataset(root).read_text()
    write_votes(root)
    teachers = {
        "nano": root / "runs" / "base",
        "small": root / "models" / "base",
        "taught": write_teacher_csv(root),
    }
    for name in MEMBERS:
        teacher = teachers.get(name)
        config = member_config(root, base_config, name, teacher)
        for command in ("fit", "export", "evaluate", "calibrate", "report"):
            argv = [command, "--config", str(config), "--run-dir", str(root / "runs" / name)]
            extra = ["--out", str(root / "models" / name)] if command != "fit" else []
            assert train_main([*argv, *extra]) == 0, f"{command} failed for {name}"
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MEMBERS))
def test_each_member_exports_full_int8_and_loads(family: Path, name: str) -> None:
    folder = family / "models" / name
    for part in ("encoder", "head", "decoder"):
        interpreter = Interpreter(model_path=str(folder / f"{part}.tflite"))
        floats = [t for t in interpreter.get_tensor_details() if t["dtype"] == np.float32]
        assert not floats
    ops = {
        op["op_name"]
        for op in Interpreter(model_path=str(folder / "encoder.tflite"))._get_ops_details()
    }
    assert ("DEPTHWISE_CONV_2D" in ops) == (name != "base")
    models = load_models(folder)
    probs = models.head.probs(models.encoder.encode(np.zeros((2, 48, 48), np.uint8)))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["inference"]["temperature"] > 0
    assert {"ferplus_val", "ferplus_val_unseen", "fer2013_val", "ece"} <= set(manifest["accuracy"])
    assert count_macs(folder / "encoder.tflite") > 0
    assert manifest["cost"]["macs_per_face"] > 0 and manifest["training"]["labels"] == "ferplus"
    reproduce = f"python -m train all --config {family / f'{name}.toml'}"
    assert manifest["training"]["command"].startswith(reproduce)
    card = (folder / "MODEL_CARD.md").read_text()  # report kept calibrate's figures and shows them
    assert "FER+ crowd majority, val faces not also in train" in card


@pytest.mark.slow
def test_the_small_members_learnt_from_the_teacher(family: Path) -> None:
    for name in ("nano", "small"):
        teacher = np.load(family / "runs" / name / "teacher_probs.npy")
        assert teacher.shape[1] == 7
        np.testing.assert_allclose(teacher.sum(axis=1), 1.0, atol=1e-3)
    assert not (family / "runs" / "base" / "teacher_probs.npy").exists()


@pytest.mark.slow
def test_a_member_folder_teaches_through_the_runtime(family: Path) -> None:
    from train.config import load_config
    from train.fit import load_splits
    from train.member import teacher_probs

    faces = load_splits(load_config(family / "small.toml")).train.images
    expected = teacher_probs(family / "models" / "base", faces)
    taught = np.load(family / "runs" / "small" / "teacher_probs.npy")
    np.testing.assert_allclose(taught, expected, atol=1e-6)
    from_run = np.load(family / "runs" / "nano" / "teacher_probs.npy")  # float, temperature 1
    assert from_run.shape == taught.shape and not np.allclose(from_run, taught, atol=1e-6)


def test_a_teacher_that_is_neither_member_nor_run_is_one_line(tmp_path: Path, capsys) -> None:
    from train.__main__ import main as train_main

    base_config = write_tiny_dataset(tmp_path).read_text()
    write_votes(tmp_path)
    config = member_config(tmp_path, base_config, "nano", tmp_path / "nowhere")
    assert train_main(["fit", "--config", str(config), "--run-dir", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0] and "Traceback" not in err[0]


@pytest.mark.slow
def test_a_csv_teacher_blends_its_rows_into_the_targets(family: Path) -> None:
    """The CSV's own rows, in the training split's order; nothing cached in the run folder."""
    from train.config import load_config
    from train.fit import load_splits
    from train.teacher import load_teacher_csv

    config = load_config(family / "taught.toml")
    splits = load_splits(config)
    table = load_teacher_csv(family / "teacher.csv", family / "train")
    rows = table.for_files(splits.train.names(family / "train"))
    assert rows.shape == (len(splits.train), len(LABELS))
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-6)
    assert not (family / "runs" / "taught" / "teacher_probs.npy").exists()
    assert (family / "models" / "taught" / "manifest.json").exists()


@pytest.mark.slow
def test_a_finished_run_teaches_through_a_csv(family: Path) -> None:
    """``python -m train teach`` writes what ``[distill] teacher`` reads, for every train face."""
    import keras

    from train.__main__ import main as train_main
    from train.data import load_faces
    from train.fit import RunDir, float_probs
    from train.teacher import load_teacher_csv

    out = family / "our-teacher.csv"
    argv = [
        "teach",
        "--config",
        str(family / "base.toml"),
        "--run-dir",
        str(family / "runs" / "base"),
    ]
    assert train_main([*argv, "--csv", str(out)]) == 0
    faces = load_faces(family / "train")
    table = load_teacher_csv(out, family / "train")
    rows = table.for_files(faces.names(family / "train"))
    run = RunDir(family / "runs" / "base")
    expected = float_probs(
        keras.models.load_model(run.model("encoder")),
        keras.models.load_model(run.model("head")),
        faces.images,
        flip=True,
    )
    np.testing.assert_allclose(rows, expected, atol=1e-3)


def test_the_teacher_config_builds_a_resnet_sized_residual_network() -> None:
    from train.config import load_config
    from train.model import build_encoder, build_head

    config = load_config(Path(__file__).resolve().parents[1] / "train/configs/ferplus-teacher.toml")
    encoder, head = build_encoder(config.model), build_head(config.model)
    assert 10e6 < encoder.count_params() + head.count_params() < 16e6
    assert any(layer.name.endswith("_add0") for layer in encoder.layers)
    assert encoder.output.shape[-1] == config.model.code_size


@pytest.mark.slow
def test_the_holdout_chooses_the_teacher_and_folder_label_weights(family: Path) -> None:
    metrics = json.loads((family / "runs" / "taught" / "metrics.json").read_text())
    assert metrics["distill_weight"] in (0.3, 0.7) and metrics["folder_weight"] in (0.0, 0.5)
    assert set(metrics["class_weight_holdout"]) == {
        f"{power}/{teacher}/{folder}"
        for power in (0.0, 0.5)
        for teacher in (0.3, 0.7)
        for folder in (0.0, 0.5)
    }
    best = max(metrics["class_weight_holdout"].values())
    chosen = (
        f"{metrics['class_weight_power']}/{metrics['distill_weight']}/{metrics['folder_weight']}"
    )
    assert metrics["class_weight_holdout"][chosen] == best
    card = (family / "models" / "taught" / "MODEL_CARD.md").read_text()
    assert (
        f"{metrics['folder_weight']} of each target given to the face's FER2013 folder label "
        "(of 0.0, 0.5)"
    ) in card
    plain = json.loads((family / "runs" / "base" / "metrics.json").read_text())
    assert plain["distill_weight"] is None and set(plain["class_weight_holdout"]) == {
        "0.0/None",
        "0.5/None",
    }
