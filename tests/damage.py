"""A copy of a shipped model folder (``manifest.json`` + files) with one thing wrong with it,
for the tests that check a broken folder is refused with one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from stream.checksum import MANIFEST, sha256

DAMAGES = ("missing", "empty", "junk, re-signed", "unlisted", "no manifest")


def damaged_copy(source: Path, folder: Path, name: str, damage: str) -> Path:
    """``source`` copied to ``folder``, then model ``name`` or the manifest damaged as named."""
    shutil.copytree(source, folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    model = folder / manifest["models"][name]["file"]
    if damage == "missing":
        model.unlink()
    elif damage == "empty":
        model.write_bytes(b"")
    elif damage == "junk, re-signed":
        model.write_bytes(b"TFL3" + bytes(4096))
        manifest["models"][name]["sha256"] = sha256(model)
    elif damage == "unlisted":
        manifest["models"][f"not-{name}"] = manifest["models"].pop(name)
    elif damage == "no manifest":
        (folder / MANIFEST).unlink()
        return folder
    else:
        raise ValueError(f"unknown damage {damage!r}: one of {', '.join(DAMAGES)}")
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder
