"""``analyze --summary``: per source and per track, how long, which expression, how sure.

A track's time on screen is its frame count times the source's frame interval (the median step
of the container's timestamps), so a track that was lost for a while is not counted for the gap.
Shares are of the frames the track was seen in, by the label published for that frame.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrackSummary:
    source: str
    track: int | None  # None: the whole source
    frames: int
    seconds: float | None
    dominant: str | None
    shares: dict[str, float]
    mean_confidence: float | None


def frame_interval(rows: list[dict[str, Any]]) -> float | None:
    times = sorted({row["time_s"] for row in rows if row["time_s"] is not None})
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return statistics.median(steps) if steps else None


def _summary(
    source: str,
    track: int | None,
    rows: list[dict[str, Any]],
    frames: int,
    step: float | None,
    labels: tuple[str, ...],
) -> TrackSummary:
    faces = [row for row in rows if row["label"] is not None]
    counts = Counter(row["label"] for row in faces)
    return TrackSummary(
        source=source,
        track=track,
        frames=frames,
        seconds=None if step is None else frames * step,
        dominant=counts.most_common(1)[0][0] if counts else None,
        shares={label: counts[label] / len(faces) if faces else 0.0 for label in labels},
        mean_confidence=statistics.fmean(r["confidence"] for r in faces) if faces else None,
    )


def summarise(rows: list[dict[str, Any]], labels: tuple[str, ...]) -> list[TrackSummary]:
    """One summary per source (``track`` None), then one per track, in order of first sight."""
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_source[row["source"]].append(row)
    out = []
    for source, source_rows in by_source.items():
        step = frame_interval(source_rows)
        frames = len({row["frame"] for row in source_rows})
        out.append(_summary(source, None, source_rows, frames, step, labels))
        tracks: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in source_rows:
            if row["track"] is not None:
                tracks[row["track"]].append(row)
        for track, track_rows in tracks.items():
            out.append(_summary(source, track, track_rows, len(track_rows), step, labels))
    return out


def render(summaries: list[TrackSummary], labels: tuple[str, ...]) -> str:
    """A plain-text table, one line per source and per track."""
    header = ["source", "track", "on screen", "frames", "dominant", *labels, "confidence"]
    lines = [header]
    for s in summaries:
        lines.append(
            [
                s.source,
                "all" if s.track is None else str(s.track),
                "-" if s.seconds is None else f"{s.seconds:.1f} s",
                str(s.frames),
                s.dominant or "-",
                *(f"{100 * s.shares[label]:.0f}%" for label in labels),
                "-" if s.mean_confidence is None else f"{s.mean_confidence:.2f}",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
