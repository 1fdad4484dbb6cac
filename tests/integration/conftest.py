from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.sqlite_outbox.store import SqliteOutboxStore


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[SqliteOutboxStore]:
    """A real outbox in a fresh file, open for the test."""
    box = SqliteOutboxStore(tmp_path / "outbox.sqlite3")
    await box.open()
    yield box
    await box.close()
