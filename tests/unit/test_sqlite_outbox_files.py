"""``make_private``: the outbox's folder and file, created for their owner alone, even when processes race."""

import stat
from pathlib import Path

import pytest

from adapters.sqlite_outbox.files import make_private


def test_creates_the_folder_and_the_file_for_their_owner_alone(tmp_path: Path) -> None:
    path = tmp_path / "var" / "outbox.sqlite3"

    make_private(path)

    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_folder_another_process_made_meanwhile_is_taken_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    path = folder / "outbox.sqlite3"
    seen_missing = {folder}
    exists = Path.exists

    def exists_as_before_the_other_process_made_it(self: Path) -> bool:
        if self in seen_missing:
            seen_missing.discard(self)
            return False
        return exists(self)

    monkeypatch.setattr(Path, "exists", exists_as_before_the_other_process_made_it)

    make_private(path)

    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
