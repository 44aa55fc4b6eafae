"""File digests: every model file the runtime loads is checked against the sha256 its manifest
records, so a damaged or swapped file is refused instead of run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from stream.errors import ModelError

MANIFEST = "manifest.json"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_file(folder: Path, name: str, schema: str, what: str) -> Path:
    """The path of model ``name`` in ``folder``, after its manifest and digest check out.

    The detector's and the face mesh's folders share this layout: a ``manifest.json`` with a
    ``schema`` and, under ``models``, each name's ``file`` and ``sha256``. Anything missing,
    unlisted or damaged is a one-line :class:`ModelError` naming ``what`` is wrong.
    """
    manifest = folder / MANIFEST
    try:
        raw = json.loads(manifest.read_text())
        if raw["schema"] != schema:
            raise ModelError(f"{manifest}: schema {raw['schema']!r}, expected {schema}")
        entry = raw["models"][name]
        path, expected = folder / entry["file"], entry["sha256"]
    except FileNotFoundError:
        raise ModelError(f"no {MANIFEST} in {folder}: the {what} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{manifest} is not valid JSON: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{manifest} is missing or has a bad field: {exc}") from None
    if not path.is_file():
        raise ModelError(f"{what} model not found: {path}")
    if sha256(path) != expected:
        raise ModelError(f"{path} does not match the sha256 in {manifest} (corrupt or replaced)")
    return path
