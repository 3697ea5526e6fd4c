"""A real PostgreSQL server for a test: Debian's binaries, a cluster in a temporary folder,
listening on 127.0.0.1 only, with password authentication; stopped and removed on exit."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.dagster_processes import free_port

USER, DATABASE = "corners", "dagster"


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("no PostgreSQL server: install Debian's postgresql (bash .ci/run does)")
    return Path(found[-1]).parent


@dataclass
class Postgres:
    password: str = "s3cret-never-logged"
    port: int = field(default_factory=free_port)
    folder: Path | None = None

    def _as_owner(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """Run a server binary as the cluster's owner (PostgreSQL refuses to run as root)."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120,
                              check=True, **kwargs)  # fmt: skip

    @property
    def env(self) -> dict[str, str]:
        """The `DAGSTER_PG_*` variables naming this server's database."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": USER,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": DATABASE,
        }

    def sql(self, statement: str, database: str = DATABASE) -> str:
        done = subprocess.run(
            [str(_binaries() / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
             "-d", database, "-At", "-c", statement],
            capture_output=True, text=True, timeout=60, check=True,
            env=dict(os.environ, PGPASSWORD=self.password),
        )  # fmt: skip
        return done.stdout.strip()

    def __enter__(self) -> Postgres:
        bin_dir = _binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="corners-pg-"))
        password_file = self.folder / "password"
        password_file.write_text(self.password + "\n")
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (self.folder, password_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        data = self.folder / "data"
        self._as_owner(str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=scram-sha-256",
                       f"--pwfile={password_file}")  # fmt: skip
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._as_owner(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                       "-l", str(self.folder / "server.log"), "start")  # fmt: skip
        self.sql(f"CREATE DATABASE {DATABASE}", database="postgres")
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._as_owner(str(_binaries() / "pg_ctl"), "-D", str(self.folder / "data"), "-m",
                           "fast", "-w", "stop")  # fmt: skip
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
