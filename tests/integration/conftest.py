from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.sqlite_outbox.store import SqliteOutbox


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[SqliteOutbox]:
    """A real outbox in a fresh file, open for the test."""
    box = SqliteOutbox(tmp_path / "outbox.sqlite3")
    await box.open()
    yield box
    await box.close()
