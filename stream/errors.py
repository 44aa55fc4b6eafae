"""Errors a user can cause; the CLI prints their message as one line and exits non-zero."""


def first_line(exc: BaseException) -> str:
    """A library's error as one line: its message's first line, else the exception's name."""
    return (str(exc).strip() or type(exc).__name__).splitlines()[0]


class EmostreamError(Exception):
    """Base of every error that is reported to the user as a single line."""

    exit_code = 2


class SourceError(EmostreamError):
    """A video source that cannot be opened or read."""


class ModelError(EmostreamError):
    """A model file that is missing, corrupt or does not match the manifest."""


class DelegateError(EmostreamError):
    """An accelerator delegate that is not installed or cannot run the model."""


class PublishError(EmostreamError):
    """A ZeroMQ endpoint that cannot be bound or connected, or bad key material."""


class OutputError(EmostreamError):
    """An output that cannot be written: a recording, a preview window, analyze's table or plot
    (or a table format whose library is not installed)."""
