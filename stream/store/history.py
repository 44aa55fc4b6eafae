"""Read the history store for the dashboard: per-minute shares, faces seen and the longest tracks.

The dashboard only reads: SQLite is opened read-only (WAL lets it read while ``record`` writes,
without ever taking the write lock), PostgreSQL through a fresh connection per query, so a
database that goes away and comes back costs one failed refresh, not a restart.

Track ids restart when a camera's process restarts, so one id can name two different faces on
the same day. A track here is a run of one id's rows with no gap over :data:`TRACK_GAP_S`
seconds, found with window functions that SQLite (3.25+) and PostgreSQL both have.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream.errors import first_line
from stream.store.database import StoreError, is_postgres, redact

WINDOWS_S = {"hour": 3600, "day": 86400}
TRACK_GAP_S = 10.0
LONGEST = 5

_TRACK_RUNS = """
WITH gaps AS (
  SELECT camera, track, time, label,
         CASE WHEN time - LAG(time) OVER (PARTITION BY camera, track ORDER BY time) <= ?
              THEN 0 ELSE 1 END AS starts
  FROM faces WHERE time >= ? AND time <= ?
), runs AS (
  SELECT camera, track, time, label,
         SUM(starts) OVER (PARTITION BY camera, track ORDER BY time ROWS UNBOUNDED PRECEDING)
           AS run
  FROM gaps
)
SELECT camera, track, run, label, COUNT(*), MIN(time), MAX(time)
FROM runs GROUP BY camera, track, run, label
"""


@dataclass(frozen=True)
class Track:
    camera: str
    track: int
    start: float
    end: float
    faces: int
    label: str

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "start": self.start,
            "end": self.end,
            "seconds": round(self.seconds, 1),
            "faces": self.faces,
            "label": self.label,
        }


class History:
    """Answers ``window`` queries (``hour`` or ``day``) for every camera in the store."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.postgres = is_postgres(target)
        if not self.postgres and not Path(target).is_file():
            raise StoreError(
                f"no history store at {target} (emostream record --db {target} writes one)"
            )
        with closing(self._connect()):
            pass

    def _connect(self) -> Any:
        try:
            if self.postgres:
                import psycopg

                return psycopg.connect(self.target, connect_timeout=5)
            uri = Path(self.target).resolve().as_uri() + "?mode=ro"
            return sqlite3.connect(uri, uri=True, timeout=5.0, check_same_thread=False)
        except ImportError:
            raise StoreError("PostgreSQL needs psycopg: pip install 'psycopg[binary]'") from None
        except Exception as exc:  # sqlite3.Error, psycopg.Error
            raise StoreError(f"cannot open {redact(self.target)}: {first_line(exc)}") from None

    def _rows(self, db: Any, sql: str, params: Iterable[Any]) -> list[tuple]:
        cursor = db.cursor()
        cursor.execute(sql.replace("?", "%s") if self.postgres else sql, tuple(params))
        return list(cursor.fetchall())

    def window(self, name: str, now: float | None = None) -> dict[str, Any]:
        """Per camera: each minute's frames, faces and label shares, faces seen, longest tracks."""
        now = time.time() if now is None else now
        since = now - WINDOWS_S[name]
        with closing(self._connect()) as db:
            try:
                minutes = self._rows(
                    db,
                    "SELECT camera, minute, frames, faces, shares FROM minutes "
                    "WHERE minute >= ? AND minute <= ? ORDER BY camera, minute",
                    (int(since) // 60 * 60, now),
                )
                runs = self._rows(db, _TRACK_RUNS, (TRACK_GAP_S, since, now))
            except Exception as exc:  # sqlite3.Error, psycopg.Error
                raise StoreError(f"cannot read {redact(self.target)}: {first_line(exc)}") from None
        cameras: dict[str, dict[str, Any]] = {}
        for camera, minute, frames, faces, shares in minutes:
            entry = cameras.setdefault(camera, _empty())
            entry["minutes"].append(
                {"minute": minute, "frames": frames, "faces": faces, "shares": json.loads(shares)}
            )
            entry["faces"] += faces
            entry["frames"] += frames
        for camera, tracks in _tracks(runs).items():
            entry = cameras.setdefault(camera, _empty())
            entry["tracks"] = len(tracks)
            longest = sorted(tracks, key=lambda t: (-t.seconds, t.start))[:LONGEST]
            entry["longest"] = [t.to_json() for t in longest]
        return {"window": name, "since": since, "now": now, "cameras": cameras}


def _empty() -> dict[str, Any]:
    return {"minutes": [], "faces": 0, "frames": 0, "tracks": 0, "longest": []}


def _tracks(rows: list[tuple]) -> dict[str, list[Track]]:
    """One :class:`Track` per (camera, id, run); its label is the one it showed most often."""
    grouped: dict[tuple[str, int, int], list[tuple]] = {}
    for camera, track, run, label, n, start, end in rows:
        grouped.setdefault((camera, track, run), []).append((n, label, start, end))
    out: dict[str, list[Track]] = {}
    for (camera, track, _), parts in grouped.items():
        label = max(parts, key=lambda p: (p[0], p[1]))[1]
        out.setdefault(camera, []).append(
            Track(
                camera,
                int(track),
                min(p[2] for p in parts),
                max(p[3] for p in parts),
                sum(p[0] for p in parts),
                label,
            )
        )
    return out
