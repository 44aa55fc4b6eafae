"""The history store's schema, documented once; version 3. SQLite and PostgreSQL share it.

``meta``
    ``key``, ``value``: ``schema_version`` is ``3``. A store of an older version is migrated
    when ``record`` opens it (:data:`MIGRATIONS` adds the columns, its rows keep NULL there); a
    store of a later version is refused with one line instead of being written in a shape it
    does not expect.
``faces``
    One row per face result: ``camera``, ``time`` (capture time, Unix seconds), ``frame``,
    ``track``, ``label``, ``confidence``, ``probs`` (JSON object label → probability),
    ``quality``; from version 2 the face mesh's ``yaw``, ``pitch``, ``roll`` (degrees),
    ``eye_right``, ``eye_left``, ``mouth`` (openness 0..1) and ``frontal`` (1 or 0), NULL where
    the pipeline ran without the mesh; from version 3 ``gaze_yaw`` and ``gaze_pitch`` (degrees,
    where the eyes point), NULL unless the pipeline ran ``--gaze``. They are kept so that a
    label can be judged later (one read from a face turned away is not trusted) and attention
    counted over time. Indexed on
    ``(camera, time)``, the order every history query reads it in.
``minutes``
    One row per camera per minute (``minute``: Unix seconds at the start of the minute):
    ``frames``, ``faces`` (face results summed over the frames), ``shares`` (JSON object
    label → share of the face results), ``mean_confidence``, ``drops`` (frames the subscriber
    missed, from gaps in ``frame``). Keyed on ``(camera, minute)``; a minute that spans two
    batches is merged.

``record --keep-days N`` (default 30, or ``forever``) deletes rows older than N days from both
tables, hourly. No table holds an image: a face is a box-free row of labels and numbers, tied to a
person only by the camera, the time and the track.
"""

from __future__ import annotations

SCHEMA_VERSION = 3
MESH_COLUMNS = ("yaw", "pitch", "roll", "eye_right", "eye_left", "mouth", "frontal")
GAZE_COLUMNS = ("gaze_yaw", "gaze_pitch")
READING_COLUMNS = MESH_COLUMNS + GAZE_COLUMNS
"""A face row's columns after its label: what the face mesh and the iris model read."""

TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS faces ("
    " camera TEXT NOT NULL, time DOUBLE PRECISION NOT NULL, frame BIGINT NOT NULL,"
    " track BIGINT NOT NULL, label TEXT NOT NULL, confidence DOUBLE PRECISION NOT NULL,"
    " probs TEXT NOT NULL, quality DOUBLE PRECISION, yaw DOUBLE PRECISION,"
    " pitch DOUBLE PRECISION, roll DOUBLE PRECISION, eye_right DOUBLE PRECISION,"
    " eye_left DOUBLE PRECISION, mouth DOUBLE PRECISION, frontal SMALLINT,"
    " gaze_yaw DOUBLE PRECISION, gaze_pitch DOUBLE PRECISION)",
    "CREATE INDEX IF NOT EXISTS faces_camera_time ON faces (camera, time)",
    "CREATE TABLE IF NOT EXISTS minutes ("
    " camera TEXT NOT NULL, minute BIGINT NOT NULL, frames BIGINT NOT NULL,"
    " faces BIGINT NOT NULL, shares TEXT NOT NULL, mean_confidence DOUBLE PRECISION,"
    " drops BIGINT NOT NULL, PRIMARY KEY (camera, minute))",
)

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: tuple(
        f"ALTER TABLE faces ADD COLUMN {name} "
        + ("SMALLINT" if name == "frontal" else "DOUBLE PRECISION")
        for name in MESH_COLUMNS
    ),
    2: tuple(f"ALTER TABLE faces ADD COLUMN {name} DOUBLE PRECISION" for name in GAZE_COLUMNS),
}
"""What takes a store from the version named to the next."""
