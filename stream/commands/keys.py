"""``emostream keys``: make a CURVE key pair for an encrypted, allow-listed publisher or client."""

from __future__ import annotations

import argparse
from pathlib import Path

from stream.publish.curve import make_keypair


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keys",
        help="make a CURVE key pair (NAME.key public, NAME.key_secret private)",
        description=(
            "Write NAME.key and NAME.key_secret into DIR. The publisher uses its .key_secret with "
            "--curve-secret and admits the clients whose .key files are in --curve-clients; a "
            "subscriber uses its own .key_secret with --curve-secret and the publisher's .key "
            "with --curve-server-key. Existing files are never overwritten."
        ),
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="folder to write the keys into")
    parser.add_argument("--name", default="emostream", help="file name stem (default emostream)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    public, secret = make_keypair(args.dir, args.name)
    print(f"public key: {public}")
    print(f"secret key: {secret}")
    return 0
