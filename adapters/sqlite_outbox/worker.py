"""One thread owns the SQLite connection; coroutines hand it work and await the result.

Appends that queue up while a transaction is running are written together in the next one
(group commit), so many concurrent requests share one commit, and one fsync with ``sync=full``.
"""

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Item = TypeVar("Item")


@dataclass(slots=True)
class _Call:
    work: Callable[[sqlite3.Connection], Any]
    future: "asyncio.Future[Any]"


@dataclass(slots=True)
class _Append(Generic[Item]):
    item: Item
    future: "asyncio.Future[Any]"


@dataclass(slots=True)
class _Stop:
    done: threading.Event = field(default_factory=threading.Event)


class WorkerStopped(RuntimeError):
    """Work was handed to a worker that is not running."""


GroupWriter = Callable[[sqlite3.Connection, list[Item]], list[object]]
"""Writes a group of items in one transaction; returns, per item, its result or the exception to raise."""


class SqliteWorker(Generic[Item]):
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        write_group: GroupWriter[Item],
        *,
        max_group: int = 1024,
        name: str = "eventgate-outbox",
    ) -> None:
        self._connect = connect
        self._write_group = write_group
        self._max_group = max_group
        self._jobs: queue.SimpleQueue[_Call | _Append[Item] | _Stop] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._accepting = False

    async def start(self) -> None:
        """Open the connection in the worker thread; raises what opening it raised."""
        self._thread.start()
        await asyncio.to_thread(self._ready.wait)
        if self._startup_error is not None:
            raise self._startup_error
        self._accepting = True

    async def stop(self) -> None:
        """Finish the queued work, close the connection, and end the thread."""
        if not self._accepting:
            return
        self._accepting = False
        stop = _Stop()
        self._jobs.put(stop)
        await asyncio.to_thread(stop.done.wait)

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` with the connection in the worker thread."""
        self._check_accepting()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put(_Call(work, future))
        return await future

    async def append(self, item: Item) -> object:
        """Write ``item`` in the next group transaction and return its result."""
        self._check_accepting()
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._jobs.put(_Append(item, future))
        return await future

    def _check_accepting(self) -> None:
        if not self._accepting:
            raise WorkerStopped("the outbox is not open")

    def _serve(self) -> None:
        try:
            connection = self._connect()
        except BaseException as error:  # handed to start(), which raises it
            self._startup_error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            self._serve_jobs(connection)
        finally:
            connection.close()

    def _serve_jobs(self, connection: sqlite3.Connection) -> None:
        pending: list[_Call | _Append[Item] | _Stop] = []
        while True:
            job = pending.pop(0) if pending else self._jobs.get()
            if isinstance(job, _Stop):
                job.done.set()
                return
            if isinstance(job, _Call):
                self._run_call(connection, job)
                continue
            group = [job]
            while len(group) < self._max_group:
                try:
                    following = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(following, _Append):
                    pending.append(following)
                    break
                group.append(following)
            self._run_group(connection, group)

    def _run_call(self, connection: sqlite3.Connection, job: _Call) -> None:
        try:
            result = job.work(connection)
        except BaseException as error:  # raised again in the awaiting coroutine
            self._settle(job.future, error=error)
        else:
            self._settle(job.future, result=result)

    def _run_group(self, connection: sqlite3.Connection, group: list[_Append[Item]]) -> None:
        try:
            outcomes = self._write_group(connection, [job.item for job in group])
        except BaseException as error:  # raised again in every awaiting coroutine
            outcomes = [error] * len(group)
        settled: list[_Settlement] = [
            (job.future, None, outcome) if isinstance(outcome, BaseException) else (job.future, outcome, None)
            for job, outcome in zip(group, outcomes, strict=True)
        ]
        group[0].future.get_loop().call_soon_threadsafe(_resolve_all, settled)

    def _settle(
        self, future: "asyncio.Future[Any]", *, result: object = None, error: BaseException | None = None
    ) -> None:
        future.get_loop().call_soon_threadsafe(_resolve, future, result, error)


_Settlement = tuple["asyncio.Future[Any]", object, BaseException | None]


def _resolve_all(settled: list[_Settlement]) -> None:
    """One wake-up of the event loop settles a whole group, instead of one wake-up per request."""
    for future, result, error in settled:
        _resolve(future, result, error)


def _resolve(future: "asyncio.Future[Any]", result: object, error: BaseException | None) -> None:
    """Runs in the event loop; a caller that gave up waiting (its request was cancelled) is skipped."""
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
