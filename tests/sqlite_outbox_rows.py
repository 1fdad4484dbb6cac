"""Every event an SQLite outbox file holds, in one table-like query, for tests that read the file."""

EVERY_EVENT = (
    "(SELECT seq, id, request_hash, body, size, state, attempts, last_error, finished_at FROM outbox"
    " UNION ALL SELECT seq, id, request_hash, body, size, 'delivered', attempts, NULL, finished_at"
    " FROM outbox_delivered)"
)
"""Pending and dead events are in ``outbox``, delivered ones in ``outbox_delivered`` (``schema.py``);
``seq`` orders each table's rows, not the two together."""
