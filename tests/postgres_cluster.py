"""PostgreSQL for the tests: a fresh schema in the shared server, or a private cluster to stop and kill.

The shared server (127.0.0.1:5432, user ``postgres``, trust) serves the fast tests, each in a schema
of its own dropped afterwards. A ``PostgresCluster`` is ``initdb``'d into a temporary folder and run
by ``pg_ctl`` on a free port, so that a test may stop it, ``kill -9`` it and start it again.
"""

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg

from tests.processes import free_port

SHARED_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def unique_schema() -> str:
    return f"eventgate_test_{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """A schema name no one uses yet in the shared server; dropped, with what it holds, at the end."""
    schema = unique_schema()
    try:
        yield schema
    finally:
        connection = await asyncpg.connect(SHARED_URL)
        try:
            await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await connection.close()


def _binary(name: str) -> str:
    (found, *_) = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return found


class PostgresCluster:
    """A private PostgreSQL server in ``folder``, on a free loopback port, trusting the user ``postgres``."""

    def __init__(self, folder: Path, *, max_connections: int = 100) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.max_connections = max_connections

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        subprocess.run(
            [
                _binary("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            env=_as_postgres_user_env(),
            preexec_fn=_drop_to_postgres_user,
        )

    def start(self) -> None:
        """Start, or start again after a stop or a kill; ``RuntimeError`` with pg_ctl's words if it fails."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c max_connections={self.max_connections}"
            f" -c unix_socket_directories={self.folder} -c shared_buffers=32MB -c fsync=on"
        )
        started = subprocess.run(
            [
                _binary("pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.folder / "log"),
                "-w",
                "start",
            ],
            check=False,
            capture_output=True,
            timeout=120,
            env=_as_postgres_user_env(),
            preexec_fn=_drop_to_postgres_user,
        )
        if started.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {started.stdout!r} {started.stderr!r}")

    def stop(self) -> None:
        subprocess.run(
            [_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            timeout=120,
            env=_as_postgres_user_env(),
            preexec_fn=_drop_to_postgres_user,
        )

    def kill(self) -> None:
        """``kill -9`` the postmaster and every backend: a crash, recovered from the WAL at the next start."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
        processes = [pid, *map(int, children.stdout.split())]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(map(_alive, processes)) and time.monotonic() < deadline:
            time.sleep(0.02)
        # The dead postmaster may linger as a zombie nobody reaps here, which would look alive to pg_ctl.
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        (self.folder / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)


@contextlib.contextmanager
def running_cluster(*, max_connections: int = 100) -> Iterator[PostgresCluster]:
    """A cluster in a fresh folder of ``/tmp`` (outside pytest's, whose modes keep other users out),
    owned by the user it runs as; stopped and removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="eventgate-postgres-"))
    ids = _postgres_ids()
    if ids is not None:
        os.chown(folder, *ids)
    cluster = PostgresCluster(folder, max_connections=max_connections)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _postgres_ids() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root: as root, the cluster runs as the ``postgres`` user."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def _drop_to_postgres_user() -> None:
    ids = _postgres_ids()
    if ids is not None:
        os.setgid(ids[1])
        os.setuid(ids[0])


def _as_postgres_user_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "HOME": "/tmp"}  # noqa: S108
