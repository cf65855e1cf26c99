"""A real PostgreSQL for the tests: Debian's package, a cluster in a temp folder, a non-root user.

`start()` runs initdb in a fresh folder owned by that user (root creates `longread-pg` when it is
missing: PostgreSQL refuses to run as root), starts `postgres` on a free 127.0.0.1 port with a
password (scram-sha-256), waits for `pg_isready`; `Server.database()` makes a fresh database per
test. In CI (CI=true) a missing PostgreSQL fails the tests instead of skipping them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USER = "longread-pg"
INSTALL = "apt-get install -y postgresql"


def bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and postgres, if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


def missing(reason: str) -> None:
    """Skip outside CI; fail in CI, where PostgreSQL is installed by .ci/run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"the PostgreSQL tests must run in CI: {reason}; {INSTALL}")
    pytest.skip(f"{reason}: {INSTALL}")


@dataclass
class Server:
    """One running cluster; `url()` names a database with the superuser's password in it."""

    bin: Path
    root: Path
    port: int
    password: str
    process: subprocess.Popen[bytes]
    _count: list[int] = field(default_factory=lambda: [0])

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://postgres:{secret}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        self._count[0] += 1
        name = f"longread_test_{self._count[0]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        _as_user([str(self.bin / "pg_ctl"), "stop", "-D", str(self.root / "data"), "-m", "fast",
                  "-w"], check=False)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        if self.process.poll() is None:
            self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> Server:
    """initdb + postgres in a new temporary folder; raises RuntimeError saying what failed."""
    pg_bin = bin_dir()
    if pg_bin is None:
        raise FileNotFoundError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin)")
    _ensure_user()
    root = Path(tempfile.mkdtemp(prefix="longread-pg-"))
    password = secrets.token_hex(12)
    (root / "pw").write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, USER)
        shutil.chown(root / "pw", USER)
    _as_user([str(pg_bin / "initdb"), "-D", str(root / "data"), "-U", "postgres",
              "--pwfile", str(root / "pw"), "--auth-local=trust", "--auth-host=scram-sha-256",
              "-E", "UTF8", "--no-sync"])
    port = _free_port()
    process = subprocess.Popen(
        _user_prefix() + [str(pg_bin / "postgres"), "-D", str(root / "data"), "-k", str(root),
                          "-p", str(port), "-h", "127.0.0.1", "-c", "fsync=off"],
        stdout=subprocess.DEVNULL, stderr=open(root / "log", "wb"),  # noqa: SIM115
    )
    server = Server(pg_bin, root, port, password, process)
    _wait_ready(server)
    return server


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"postgres exited: {(server.root / 'log').read_text()[-500:]}")
        ready = subprocess.run([str(server.bin / "pg_isready"), "-h", "127.0.0.1", "-p",
                                str(server.port)], capture_output=True)
        if ready.returncode == 0:
            return
        time.sleep(0.2)
    server.stop()
    raise RuntimeError("postgres did not become ready within 60 s")


def _ensure_user() -> None:
    if os.geteuid() != 0:
        return
    if _known(USER):
        return
    made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                           "/usr/sbin/nologin", USER], capture_output=True, text=True)
    if made.returncode != 0 and not _known(USER):  # another session may have made it meanwhile
        raise RuntimeError(f"useradd {USER} failed: {made.stderr.strip()}")


def _known(user: str) -> bool:
    return subprocess.run(["id", "-u", user], capture_output=True).returncode == 0


def _user_prefix() -> list[str]:
    return ["runuser", "-u", USER, "--"] if os.geteuid() == 0 else []


def _as_user(command: list[str], *, check: bool = True) -> None:
    done = subprocess.run(_user_prefix() + command, capture_output=True, text=True, cwd="/")
    if check and done.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed: {done.stderr.strip()[-500:]}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
