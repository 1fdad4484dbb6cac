"""Where the outbox keeps accepted events, how durably, and how many before it refuses more."""

from typing import Annotated

import msgspec
from msgspec import Meta

from adapters.setting_types import Count, PositiveSeconds
from adapters.sqlite_outbox.schema import SyncMode


class OutboxSettings(msgspec.Struct, frozen=True, kw_only=True):
    path: Annotated[
        str,
        Meta(
            description="The outbox's SQLite file (its folder is created). Processes of one machine may "
            "share it."
        ),
    ] = msgspec.field(default="var/outbox.sqlite3", name="EVENTGATE_OUTBOX_PATH")
    sync: Annotated[
        SyncMode,
        Meta(
            description="`normal`: accepted events survive the process being killed; `full`: they also "
            "survive power loss, at the cost of an fsync per group commit."
        ),
    ] = msgspec.field(default="normal", name="EVENTGATE_OUTBOX_SYNC")
    max_events: Annotated[
        Count,
        Meta(description="Undelivered events the outbox holds before requests get 503 with `Retry-After`."),
    ] = msgspec.field(default=1_000_000, name="EVENTGATE_OUTBOX_MAX_EVENTS")
    max_bytes: Annotated[
        Count,
        Meta(
            description="Bytes of undelivered events the outbox holds before requests get 503 with "
            "`Retry-After`."
        ),
    ] = msgspec.field(default=1 << 30, name="EVENTGATE_OUTBOX_MAX_BYTES")
    retention_seconds: Annotated[
        PositiveSeconds,
        Meta(
            description="Seconds a delivered event stays in the outbox (for `eventgate outbox status`) "
            "before it is purged."
        ),
    ] = msgspec.field(default=3600.0, name="EVENTGATE_OUTBOX_RETENTION")
    keep_delivered: Annotated[
        bool,
        Meta(
            description="Keep a delivered event's body for the retention too. By default a delivered event "
            "keeps only its id, request hash, state and time (what the idempotency check and `outbox status` "
            "need), a fraction of the disk."
        ),
    ] = msgspec.field(default=False, name="EVENTGATE_OUTBOX_KEEP_DELIVERED")
