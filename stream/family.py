"""The model family: one folder per member under ``models/``, and which one a command loads.

Each member (``models/<name>/``) is a complete model set with its own ``manifest.json``: the
encoder, head and decoder, and what the member costs (``cost``: multiply-accumulates a face,
parameters, bytes) and scores (``accuracy``). ``models/family.json`` names the default member
and says why it is the default.

A command picks its models, most specific first: ``--models DIR`` (any folder with a manifest),
``--model NAME`` (a member), ``$EMOSTREAM_MODELS`` (a folder), the family's default.
``$EMOSTREAM_FAMILY`` points at another family folder (a device's own set of members).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream.errors import ModelError

FAMILY = "family.json"
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "emostream.manifest/1"
"""An expression-model manifest; other folders (``detector/``) have manifests of their own."""


def family_root() -> Path:
    """``$EMOSTREAM_FAMILY``, else the ``models/`` folder shipped beside the packages."""
    env = os.environ.get("EMOSTREAM_FAMILY")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "models"


@dataclass(frozen=True)
class Member:
    name: str
    path: Path
    manifest: dict[str, Any]

    def summary(self, default: str | None) -> dict[str, Any]:
        """What ``emostream models --json`` prints for this member."""
        cost = self.manifest.get("cost", {})
        accuracy = self.manifest.get("accuracy", {})
        return {
            "name": self.name,
            "default": self.name == default,
            "path": str(self.path),
            "macs": cost.get("macs_per_face"),
            "params": cost.get("params"),
            "bytes": cost.get("bytes"),
            "decoder_macs": cost.get("decoder_macs"),
            "flip_average": bool(self.manifest.get("inference", {}).get("flip_average", False)),
            "temperature": self.manifest.get("inference", {}).get("temperature"),
            "trained_on": self.manifest.get("training", {}).get("labels", "fer2013"),
            "accuracy": {
                "ferplus_val": accuracy.get("ferplus_val"),
                "ferplus_val_unseen": accuracy.get("ferplus_val_unseen"),
                "fer2013_val": accuracy.get("fer2013_val", accuracy.get("val", {}).get("int8")),
            },
            "ece": accuracy.get("ece"),
        }


def members(root: Path | None = None) -> list[Member]:
    """Every sub-folder of ``root`` with an expression-model manifest, by name."""
    root = root or family_root()
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        path = folder / MANIFEST
        if not path.is_file():
            continue
        try:
            manifest = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path} is not valid JSON: {exc}") from None
        if isinstance(manifest, dict) and manifest.get("schema") == MANIFEST_SCHEMA:
            found.append(Member(folder.name, folder, manifest))
    return found


def default_name(root: Path | None = None) -> str:
    """The member ``family.json`` names as the default."""
    root = root or family_root()
    path = root / FAMILY
    try:
        return str(json.loads(path.read_text())["default"])
    except FileNotFoundError:
        raise ModelError(f"no {FAMILY} in {root}: it names the default model") from None
    except (OSError, KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} does not name a default model: {exc}") from None


def member_dir(name: str, root: Path | None = None) -> Path:
    """The folder of member ``name``; an unknown name is one line listing the installed ones."""
    root = root or family_root()
    names = [m.name for m in members(root)]
    if name not in names:
        listed = ", ".join(names) if names else "none installed"
        raise ModelError(f"unknown model {name!r} (installed: {listed})")
    return root / name


def resolve_model_dir(model: str | None = None, models: str | Path | None = None) -> Path:
    """The folder a command loads, from ``--models``, ``--model``, the environment, the default."""
    if models:
        return Path(models)
    if model:
        return member_dir(model)
    env = os.environ.get("EMOSTREAM_MODELS")
    if env:
        return Path(env)
    return member_dir(default_name())
