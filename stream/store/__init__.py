"""The history store: every face result and a per-minute summary, in SQLite or PostgreSQL.

:mod:`~stream.store.schema` documents the tables once, :mod:`~stream.store.database` opens and
writes them, :mod:`~stream.store.recorder` batches the stream into them.
"""
