"""``analyze --plot``: expressions over time, one panel per long track of each source.

Each panel draws the seven probabilities of one track against the container's time, further
smoothed by a centred moving average of ``SMOOTH_S`` seconds on top of the tracker's own
smoothing, so a glance shows which expression held and when it changed. Tracks shorter than
``LONG_TRACK_S`` are left out (a face that flickered in for a moment tells little); a source
with none gets a panel that says so.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from stream.analysis.summary import frame_interval
from stream.errors import OutputError

LONG_TRACK_S = 2.0
SMOOTH_S = 0.5
MAX_PANELS = 24
COLOURS = {
    "angry": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#2ca02c",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#7f7f7f",
}


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or len(values) < width:
        return values
    kernel = np.ones(width) / width
    padded = np.pad(values, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


Panel = tuple[str, int | None, list[dict[str, Any]], float]  # source, track, its rows, step


def _panels(rows: list[dict[str, Any]]) -> list[Panel]:
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_source[row["source"]].append(row)
    panels: list[tuple[str, int | None, list[dict[str, Any]], float]] = []
    for source, source_rows in by_source.items():
        step = frame_interval(source_rows) or 1.0
        tracks: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in source_rows:
            if row["track"] is not None:
                tracks[row["track"]].append(row)
        long = [(t, r) for t, r in tracks.items() if len(r) * step >= LONG_TRACK_S]
        panels += [(source, t, r, step) for t, r in long] or [(source, None, [], step)]
    return panels[:MAX_PANELS]


def plot(rows: list[dict[str, Any]], labels: tuple[str, ...], path: Path) -> int:
    """Write the figure to ``path``; returns the number of panels."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise OutputError("plotting needs matplotlib: pip install 'emostream[analysis]'") from None
    panels = _panels(rows)
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(10, 2.2 * len(panels) + 0.6), squeeze=False, sharey=True
    )
    for axis, (source, track, track_rows, step) in zip(axes[:, 0], panels, strict=True):
        name = Path(source).name
        if track is None:
            axis.text(0.5, 0.5, f"{name}: no track of {LONG_TRACK_S:g} s or more", ha="center")
            axis.set_axis_off()
            continue
        times = np.array(
            [r["time_s"] if r["time_s"] is not None else r["frame"] * step for r in track_rows]
        )
        width = max(1, round(SMOOTH_S / step))
        for label in labels:
            values = np.array([r[f"p_{label}"] for r in track_rows], dtype=float)
            axis.plot(times, _smooth(values, width), label=label, color=COLOURS.get(label))
        axis.set_title(f"{name}, track {track}", fontsize=10, loc="left")
        axis.set_ylim(0, 1)
        axis.set_ylabel("probability")
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time in the recording (s)")
    handles, names = next(
        (a.get_legend_handles_labels() for a in axes[:, 0] if a.get_lines()), ([], [])
    )
    if handles:
        figure.legend(handles, names, loc="upper right", ncol=len(names), fontsize=8)
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    try:
        figure.savefig(path, dpi=110)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(figure)
    return len(panels)
