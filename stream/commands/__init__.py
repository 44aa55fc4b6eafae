"""One module per ``emostream`` subcommand; each exposes ``register(subparsers)``.

``register`` adds the subcommand's parser and sets ``handler`` to a function taking the parsed
arguments and returning the exit status.
"""
