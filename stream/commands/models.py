"""``emostream models``: the installed model family, what each member costs and scores."""

from __future__ import annotations

import argparse
import json

from stream.family import default_name, family_root, members


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the installed models: cost and accuracy of each, and the default",
        description=(
            "List the members of the installed model family (models/<name>/): multiply-"
            "accumulates a face (encoder + head, twice where the member averages the mirror "
            "image), parameters, bytes of encoder + head, and accuracy on FER2013's val split "
            "by FER+ crowd majority and by FER2013's own labels. Pick one with --model NAME on "
            "any command that loads models."
        ),
    )
    parser.add_argument("--json", action="store_true", help="a JSON list of objects instead")
    parser.set_defaults(handler=handle)


def _pct(value: float | None) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, int | float) else "–"


def handle(args: argparse.Namespace) -> int:
    root = family_root()
    default = default_name(root)
    summaries = [m.summary(default) for m in members(root)]
    if args.json:
        print(json.dumps(summaries, indent=2))
        return 0
    header = ("model", "M MACs/face", "params", "KB", "FER+ val", "unseen", "FER2013 val")
    rows = [
        (
            s["name"] + (" (default)" if s["default"] else ""),
            f"{s['macs'] / 1e6:.1f}" if s["macs"] else "–",
            f"{s['params']:,}" if s["params"] else "–",
            f"{s['bytes'] / 1000:.0f}" if s["bytes"] else "–",
            _pct(s["accuracy"]["ferplus_val"]),
            _pct(s["accuracy"]["ferplus_val_unseen"]),
            _pct(s["accuracy"]["fer2013_val"]),
        )
        for s in summaries
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"\n{root}; unseen: val without the faces whose pixels are also in train")
    return 0
