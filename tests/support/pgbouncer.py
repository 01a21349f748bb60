"""A real PgBouncer in transaction mode in front of the test PostgreSQL, with its default settings.

Nothing is relaxed for us: no ``ignore_startup_parameters``, and a pool smaller than the number
of clients, so consecutive transactions of one client land on different server connections
(where a session setting or a prepared statement would leak or go missing).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from careconnect_ws.local.ports import free_port


def find_pgbouncer() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(p)), None
    )


class PgBouncer:
    def __init__(self, *, server_port: int, server_host: str, pool_size: int = 2) -> None:
        binary = find_pgbouncer()
        if binary is None:
            raise FileNotFoundError("pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/run does)")
        self.binary = binary
        self.server_port = server_port
        self.server_host = server_host
        self.pool_size = pool_size
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="careconnect-pgbouncer-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        # A Unix socket in a 0700 directory, like the server behind it: trust auth on TCP would let any local
        # user in as the superuser.
        return f"postgresql://postgres@/postgres?host={self.root}&port={self.port}"

    def start(self) -> PgBouncer:
        (self.root / "userlist.txt").write_text('"postgres" ""\n')
        (self.root / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"postgres = host={self.server_host} port={self.server_port} dbname=postgres\n"
            "[pgbouncer]\n"
            "listen_addr =\n"
            f"listen_port = {self.port}\n"
            f"unix_socket_dir = {self.root}\n"
            "auth_type = trust\n"
            f"auth_file = {self.root / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 200\n"
            f"logfile = {self.root / 'pgbouncer.log'}\n"
        )
        kwargs = {}
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            entry = pwd.getpwnam("postgres") if _has_user("postgres") else pwd.getpwnam("nobody")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            for f in self.root.iterdir():
                os.chown(f, entry.pw_uid, entry.pw_gid)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self.proc = subprocess.Popen(
            [self.binary, str(self.root / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **kwargs,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.settimeout(0.2)
                    probe.connect(str(self.root / f".s.PGSQL.{self.port}"))
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("pgbouncer did not start listening within 10 s")

    def log(self) -> str:
        path = self.root / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
