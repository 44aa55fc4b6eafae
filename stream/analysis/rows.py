"""The table ``emostream analyze`` writes: one row per face per frame, documented once.

Columns, in order: ``source``, ``frame`` (index from 0), ``time_s`` (the container's timestamp;
empty for images), ``track``, ``x``, ``y``, ``w``, ``h`` (the box, normalised 0..1),
``score`` (detector), ``label``, ``confidence``, one ``p_<label>`` per expression (smoothed over
the track, as ``run`` publishes them), ``quality``, ``uncertain``, and from the face mesh
``yaw``, ``pitch``, ``roll`` (degrees), ``eye_right``, ``eye_left``, ``mouth`` (openness 0..1)
and ``frontal`` (empty where the mesh is off or saw no face), and ``gaze_yaw``, ``gaze_pitch``
(degrees, where the eyes point; only with ``--gaze``). A frame without a face still has
one row, with every face column empty, so gaps show.

``.csv``, ``.jsonl`` and ``.parquet`` are written by suffix; Parquet needs pyarrow, from the
``[analysis]`` extra.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, cast

from stream.analysis.results import FrameResult
from stream.errors import OutputError

FORMATS = (".csv", ".jsonl", ".parquet")
FACE_COLUMNS = ("track", "x", "y", "w", "h", "score", "label", "confidence")
MESH_COLUMNS = (
    "yaw", "pitch", "roll", "eye_right", "eye_left", "mouth", "frontal", "gaze_yaw", "gaze_pitch",
)  # fmt: skip


def columns(labels: tuple[str, ...]) -> list[str]:
    return [
        "source",
        "frame",
        "time_s",
        *FACE_COLUMNS,
        *(f"p_{label}" for label in labels),
        "quality",
        "uncertain",
        *MESH_COLUMNS,
    ]


def frame_rows(frame: FrameResult, labels: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    base = {"source": frame.source, "frame": frame.frame, "time_s": frame.time_s}
    if not frame.faces:
        yield {name: base.get(name) for name in columns(labels)}
        return
    for face in frame.faces:
        x, y, w, h = face.box
        yield {
            **base,
            "track": face.track,
            "x": x,
            "y": y,
            "w": w,
            "h": h,
            "score": face.score,
            "label": face.label,
            "confidence": face.confidence,
            **{f"p_{label}": face.probs[label] for label in labels},
            "quality": face.quality,
            "uncertain": face.uncertain,
            **dict(zip(("yaw", "pitch", "roll"), face.pose or (None,) * 3, strict=True)),
            **dict(zip(("eye_right", "eye_left"), face.eyes_open or (None,) * 2, strict=True)),
            "mouth": face.mouth_open,
            "frontal": face.frontal,
            **dict(zip(("gaze_yaw", "gaze_pitch"), face.gaze or (None,) * 2, strict=True)),
        }


def to_table(rows: list[dict[str, Any]], labels: tuple[str, ...]) -> Any:
    """A pandas DataFrame of ``rows`` when pandas is installed, else the rows themselves."""
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows, columns=columns(labels))


class TableWriter:
    """Writes rows to ``path`` in the format its suffix names, or as CSV to stdout when ``path``
    is None; opened before any work starts, so a path that cannot be written costs nothing but
    one line."""

    def __init__(self, path: Path | None, labels: tuple[str, ...]) -> None:
        self.path = path
        self.columns = columns(labels)
        self.format = ".csv" if path is None else path.suffix.lower()
        if self.format not in FORMATS:
            raise OutputError(f"{path}: unknown table format (use {', '.join(FORMATS)})")
        self._parquet: Any = None
        if self.format == ".parquet":
            try:
                import pyarrow
                import pyarrow.parquet
            except ImportError:
                raise OutputError(
                    "writing Parquet needs pyarrow: pip install 'emostream[analysis]'"
                ) from None
            self._pyarrow, self._pq = pyarrow, pyarrow.parquet
            self._schema = self._parquet_schema(labels)
        if path is None:
            self._file: IO[Any] = sys.stdout
        else:
            try:
                self._file = cast(
                    IO[Any],
                    path.open("wb") if self.format == ".parquet" else path.open("w", newline=""),
                )
            except OSError as exc:
                raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        if self.format == ".csv":
            terminator = "\n" if path is None else "\r\n"
            self._csv = csv.DictWriter(self._file, self.columns, lineterminator=terminator)
            self._csv.writeheader()
        elif self.format == ".parquet":
            self._parquet = self._pq.ParquetWriter(self._file, self._schema)

    def _parquet_schema(self, labels: tuple[str, ...]) -> Any:
        pa = self._pyarrow
        kinds = {
            "source": pa.string(),
            "frame": pa.int64(),
            "track": pa.int64(),
            "label": pa.string(),
            "uncertain": pa.bool_(),
            "frontal": pa.bool_(),
        }
        return pa.schema([(name, kinds.get(name, pa.float64())) for name in columns(labels)])

    def write(self, rows: Iterable[dict[str, Any]]) -> int:
        rows = list(rows)
        try:
            if self.format == ".csv":
                self._csv.writerows(rows)
            elif self.format == ".jsonl":
                for row in rows:
                    self._file.write(json.dumps(row, allow_nan=False) + "\n")
            elif rows:
                self._parquet.write_table(
                    self._pyarrow.Table.from_pylist(rows, schema=self._schema)
                )
        except BrokenPipeError:
            raise  # stdout's reader went away (| head): the caller stops quietly
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._file.flush()
        return len(rows)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self.path is not None:
            self._file.close()


def read_table(path: Path) -> list[dict[str, Any]]:
    """Rows back from a file :class:`TableWriter` wrote, typed as they were written."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet

        return pyarrow.parquet.read_table(path).to_pylist()
    if path.suffix.lower() == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for name, value in row.items():
            row[name] = _from_csv(name, value)
    return rows


def _from_csv(name: str, value: str) -> Any:
    if value == "":
        return None
    if name in ("source", "label"):
        return value
    if name in ("uncertain", "frontal"):
        return value == "True"
    if name in ("frame", "track"):
        return int(value)
    return float(value)
