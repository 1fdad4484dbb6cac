"""The outbox on a disk that fills up or cannot be written: 503 with Retry-After, nothing acknowledged lost.

The full disk is a real tmpfs mounted for the test, and the unwritable one a folder made immutable
with ``chattr +i`` (the suite runs as root, as CI does), so SQLite meets the errors it would meet
on a production volume. (A volume cannot be remounted read-only while files on it are open for
writing, so the immutable attribute stands in for the kernel's emergency read-only remount.)
"""

import asyncio
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.inngest_stand_in import EventApiStandIn
from tests.reliability.harness import Service, drive_load, free_port, report, wait_until

OUTBOX_UNAVAILABLE = "urn:eventgate:problem:outbox-unavailable"


def mount(*arguments: str) -> None:
    subprocess.run(["mount", *arguments], check=True, capture_output=True, timeout=30)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of its own."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point))
    yield mount_point
    subprocess.run(["umount", "--lazy", str(mount_point)], check=False, timeout=30)


@pytest.fixture
def service(disk: Path) -> Iterator[Service]:
    service = Service(folder=disk, inngest_port=free_port())
    yield service
    service.stop()


def fill(disk: Path) -> Path:
    """Take all the free space, so that the next page SQLite needs cannot be had."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as file:  # unbuffered: closing it has nothing left to write
        try:
            while True:
                file.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def test_a_full_disk_answers_503_with_retry_after_and_keeps_every_acknowledged_event(
    service: Service, disk: Path
) -> None:
    service.start()
    before = asyncio.run(drive_load(service.url, 50, concurrency=4))
    filler = fill(disk)

    during = asyncio.run(drive_load(service.url, 200, concurrency=4))
    filler.unlink()
    after = asyncio.run(drive_load(service.url, 50, concurrency=4))
    acknowledged = before.acknowledged + during.acknowledged + after.acknowledged
    with EventApiStandIn(port=service.inngest_port) as stand_in:
        wait_until(
            lambda: set(acknowledged) <= set(stand_in.accepted_event_ids), 45, "all acknowledged arrived"
        )

    report("disk full", acknowledged=len(acknowledged), refused=during.statuses[503])
    assert before.statuses == after.statuses == Counter({200: 50})
    assert during.statuses[503] > 0
    assert set(during.statuses) <= {200, 503}
    assert during.retry_after_missing == 0
    assert set(during.problem_types) == {OUTBOX_UNAVAILABLE}, "a problem of the outbox's, not the bus's"


def make_immutable(folder: Path, immutable: bool) -> None:
    """``chattr +i`` on the database and its WAL: even root's open descriptors can no longer write (ext4).

    The ``-shm`` index stays writable: SQLite maps it into memory, and a store to a mapping of an
    immutable file kills the process with SIGBUS, which is a crash test, not this one.
    """
    files = [str(path) for path in folder.iterdir() if not path.name.endswith("-shm")]
    subprocess.run(["chattr", "+i" if immutable else "-i", *files], check=True, timeout=30)


def test_an_unwritable_outbox_answers_503_with_retry_after_and_recovers_when_writable(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    folder.mkdir()
    service = Service(folder=folder, inngest_port=free_port())
    service.start()
    try:
        before = asyncio.run(drive_load(service.url, 50, concurrency=4))
        make_immutable(folder, True)
        try:
            during = asyncio.run(drive_load(service.url, 50, concurrency=4))
        finally:
            make_immutable(folder, False)
        after = asyncio.run(drive_load(service.url, 50, concurrency=4))
        acknowledged = before.acknowledged + during.acknowledged + after.acknowledged
        with EventApiStandIn(port=service.inngest_port) as stand_in:
            wait_until(
                lambda: set(acknowledged) <= set(stand_in.accepted_event_ids), 45, "all acknowledged arrived"
            )
    finally:
        service.stop()

    report("outbox unwritable", acknowledged=len(acknowledged), refused=during.statuses[503])
    assert during.statuses == Counter({503: 50})
    assert during.retry_after_missing == 0
    assert during.problem_types == Counter({OUTBOX_UNAVAILABLE: 50})
    assert before.statuses == after.statuses == Counter({200: 50})
