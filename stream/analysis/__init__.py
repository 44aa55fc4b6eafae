"""Offline analysis of recordings: the Python API (:class:`Analyzer`) and ``emostream analyze``.

:mod:`~stream.analysis.api` is the API, :mod:`~stream.analysis.results` what it returns,
:mod:`~stream.analysis.rows` the table and its files,
:mod:`~stream.analysis.runner` many files in parallel, :mod:`~stream.analysis.summary` and
:mod:`~stream.analysis.plot` what a person reads and looks at.
"""

from stream.analysis.api import Analyzer
from stream.analysis.results import FaceResult, FrameResult

__all__ = ["Analyzer", "FaceResult", "FrameResult"]
