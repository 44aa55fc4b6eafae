"""One history store behind SQLite (the embedded default) or PostgreSQL (``postgresql://`` URLs).

Both speak DB-API; what differs is the connection, the parameter marker and SQLite's pragmas.
SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed batch survives the process being
killed, and readers (the dashboard) never block the writer. Every :meth:`Store.write` is one
transaction, so a batch is in the store whole or not at all.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream.errors import EmostreamError, first_line
from stream.store.schema import MIGRATIONS, READING_COLUMNS, SCHEMA_VERSION, TABLES

log = logging.getLogger(__name__)


class StoreError(EmostreamError):
    """A store that cannot be opened, or that was written by another schema version."""


@dataclass
class Minute:
    """What one camera did in one minute, as counts that add up across batches."""

    frames: int = 0
    faces: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    confidence_sum: float = 0.0
    drops: int = 0

    def add(self, other: Minute) -> None:
        self.frames += other.frames
        self.faces += other.faces
        for label, n in other.labels.items():
            self.labels[label] = self.labels.get(label, 0) + n
        self.confidence_sum += other.confidence_sum
        self.drops += other.drops

    def row(self) -> tuple[int, int, str, float | None, int]:
        shares = {label: round(n / self.faces, 6) for label, n in self.labels.items()}
        mean = round(self.confidence_sum / self.faces, 4) if self.faces else None
        return self.frames, self.faces, json.dumps(shares), mean, self.drops

    @classmethod
    def from_row(
        cls, frames: int, faces: int, shares: str, mean: float | None, drops: int
    ) -> Minute:
        labels = {label: round(share * faces) for label, share in json.loads(shares).items()}
        return cls(frames, faces, labels, (mean or 0.0) * faces, drops)


Number = float | None
MeshValues = tuple[Number, Number, Number, Number, Number, Number, int | None, Number, Number]
"""yaw, pitch, roll, eye_right, eye_left, mouth, frontal, gaze_yaw, gaze_pitch: a face row's
columns from the face mesh and the iris model (:data:`stream.store.schema.READING_COLUMNS`)."""
FaceRow = tuple[str, float, int, int, str, float, str, float | None, *MeshValues]


def is_postgres(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def create_private(path: Path) -> None:
    """Create an SQLite file readable by its owner alone, before SQLite creates it.

    It holds people's expressions over days. SQLite gives its ``-wal`` and ``-shm`` files the
    database file's own mode, so making the file 0600 from its first byte covers all three. An
    existing file keeps its mode, with a warning when others can read it.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning(
                "%s is open to group or others (mode %03o); chmod 600 %s keeps it private",
                path,
                mode,
                path,
            )


def redact(target: str) -> str:
    """``target`` without a password, for messages."""
    if not is_postgres(target) or "@" not in target:
        return target
    scheme, rest = target.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


class Store:
    """The tables of :mod:`stream.store.schema` in one database; created when missing."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.postgres = is_postgres(target)
        try:
            if self.postgres:
                import psycopg

                self._db: Any = psycopg.connect(target, connect_timeout=10)
            else:
                path = Path(target)
                create_private(path)
                self._db = sqlite3.connect(path, timeout=5.0, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
        except ImportError:
            raise StoreError("PostgreSQL needs psycopg: pip install 'psycopg[binary]'") from None
        except Exception as exc:  # sqlite3.Error, psycopg.Error: one line either way
            raise StoreError(f"cannot open {self.redacted}: {first_line(exc)}") from None
        self._create()

    @property
    def redacted(self) -> str:
        return redact(self.target)

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def _transaction(self):
        if self.postgres:
            return self._db.transaction()
        return _SqliteTransaction(self._db)

    def _create(self) -> None:
        with self._transaction():
            cursor = self._db.cursor()
            for statement in TABLES:
                cursor.execute(statement)
            cursor.execute(self._sql("SELECT value FROM meta WHERE key = ?"), ("schema_version",))
            found = cursor.fetchone()
            if found is None:
                cursor.execute(
                    self._sql("INSERT INTO meta (key, value) VALUES (?, ?)"),
                    ("schema_version", str(SCHEMA_VERSION)),
                )
            elif int(found[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.redacted} has schema version {found[0]}; this emostream writes "
                    f"version {SCHEMA_VERSION}"
                )
            else:
                self._migrate(cursor, int(found[0]))

    def _migrate(self, cursor: Any, version: int) -> None:
        """Bring an older store up to :data:`SCHEMA_VERSION`, in the opening transaction."""
        if version == SCHEMA_VERSION:
            return
        log.info("migrating %s from schema %d to %d", self.redacted, version, SCHEMA_VERSION)
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                cursor.execute(statement)
        cursor.execute(
            self._sql("UPDATE meta SET value = ? WHERE key = ?"),
            (str(SCHEMA_VERSION), "schema_version"),
        )

    def write(self, faces: list[FaceRow], minutes: dict[tuple[str, int], Minute]) -> None:
        """One transaction: the face rows, and each minute merged with what is stored."""
        with self._transaction():
            cursor = self._db.cursor()
            if faces:
                cursor.executemany(
                    self._sql(
                        "INSERT INTO faces (camera, time, frame, track, label, confidence, "
                        f"probs, quality, {', '.join(READING_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * (8 + len(READING_COLUMNS)))})"
                    ),
                    faces,
                )
            for (camera, minute), counts in minutes.items():
                cursor.execute(
                    self._sql(
                        "SELECT frames, faces, shares, mean_confidence, drops FROM minutes "
                        "WHERE camera = ? AND minute = ?"
                    ),
                    (camera, minute),
                )
                found = cursor.fetchone()
                merged = Minute.from_row(*found) if found else Minute()
                merged.add(counts)
                cursor.execute(
                    self._sql(
                        "INSERT INTO minutes (camera, minute, frames, faces, shares, "
                        "mean_confidence, drops) VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (camera, minute) DO UPDATE SET frames = excluded.frames, "
                        "faces = excluded.faces, shares = excluded.shares, "
                        "mean_confidence = excluded.mean_confidence, drops = excluded.drops"
                    ),
                    (camera, minute, *merged.row()),
                )

    def prune(self, before: float) -> int:
        """Delete what is older than ``before`` (Unix seconds); returns the face rows removed."""
        with self._transaction():
            cursor = self._db.cursor()
            cursor.execute(self._sql("DELETE FROM faces WHERE time < ?"), (before,))
            removed = cursor.rowcount
            cursor.execute(self._sql("DELETE FROM minutes WHERE minute < ?"), (int(before),))
        return removed

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        cursor = self._db.cursor()
        cursor.execute(self._sql(sql), tuple(params))
        return list(cursor.fetchall())

    def close(self) -> None:
        self._db.close()


class _SqliteTransaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()
                raise
        else:
            self._rollback()

    def _rollback(self) -> None:
        if self.db.in_transaction:  # SQLite rolls back by itself on some errors (disk full)
            self.db.execute("ROLLBACK")
