"""Superset in its own virtual environment, run for the finance dashboards.

Superset and its ~150 dependencies live in a separate venv (`make bi-setup`, pinned by
bi/constraints.txt) so that the product's .venv stays lean. Everything Superset keeps
(its SQLite metadata, the secret key, the admin password, the log) lives in one state
folder. Its processes get a minimal environment: nothing of the product's (database
URLs, Prefect settings, keys) leaks into them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import secrets
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from eod.bi.assets import BI_DIR, bundle
from eod.errors import ConfigError, ServiceError

ADMIN_USER = "admin"


def bi_venv() -> Path:
    """Superset's venv: the one `make bi-setup` installs (bi/venv_path.py)."""
    spec = importlib.util.spec_from_file_location("bi_venv_path", BI_DIR / "venv_path.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.bi_venv()


def _kept_secret(path: Path, given: str | None = None) -> str:
    """The value kept in `path` (created on first use), or `given`, which is then kept."""
    if given:
        path.write_text(given + "\n")
        path.chmod(0o600)
        return given
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value


@dataclass
class Superset:
    state_dir: Path
    venv: Path

    @classmethod
    def at(cls, state_dir: Path, venv: Path | None = None) -> Superset:
        venv = venv or bi_venv()
        if not (venv / "bin" / "superset").exists():
            raise ConfigError(f"Superset is not installed in {venv}: run `make bi-setup`")
        state_dir.mkdir(parents=True, exist_ok=True)
        return cls(state_dir.absolute(), venv)

    @property
    def log_path(self) -> Path:
        return self.state_dir / "superset.log"

    def environment(self, admin_password: str | None = None) -> dict[str, str]:
        env = {
            "PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.state_dir),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "FLASK_APP": "superset",
            "SUPERSET_CONFIG_PATH": str(BI_DIR / "superset_config.py"),
            "SUPERSET_HOME": str(self.state_dir),
            "EOD_BI_STATE_DIR": str(self.state_dir),
            "PYTHONUNBUFFERED": "1",
        }
        if admin_password:
            env["EOD_BI_ADMIN_PASSWORD"] = admin_password
        return env

    def _run(self, args: list[str], what: str, env: dict[str, str] | None = None) -> None:
        with self.log_path.open("ab") as log:
            proc = subprocess.run(
                args,
                env=env or self.environment(),
                cwd=self.state_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=900,
            )
        if proc.returncode != 0:
            raise ServiceError(
                f"Superset {what} failed (exit {proc.returncode}); see {self.log_path}"
            )

    def _version(self) -> str:
        dist = list((self.venv / "lib").glob("python3*/site-packages/apache_superset-*.dist-info"))
        return dist[0].name if dist else "unknown"

    def prepare(self, admin_password: str | None = None) -> str:
        """Metadata database up to date, roles synced; return the admin password.

        The metadata is migrated and Superset's roles synced only when Superset's
        version changed since the last time (both take half a minute on 2 cores).
        """
        _kept_secret(self.state_dir / "secret_key")
        password = _kept_secret(self.state_dir / "admin.password", admin_password)
        stamp = self.state_dir / "metadata.version"
        version = self._version()
        if not stamp.exists() or stamp.read_text() != version:
            superset = str(self.venv / "bin" / "superset")
            self._run([superset, "db", "upgrade"], "metadata migration")
            self._run([superset, "init"], "init (roles and permissions)")
            stamp.write_text(version)
        return password

    def load(self, sqlalchemy_uri: str, admin_password: str) -> None:
        """Import bi/ with the database connecting through `sqlalchemy_uri`."""
        path = self.state_dir / "bundle.zip"
        path.touch(mode=0o600)  # it holds the reader's password
        path.write_bytes(bundle(sqlalchemy_uri))
        python = str(self.venv / "bin" / "python")
        self._run(
            [python, str(BI_DIR / "load_assets.py"), str(path)],
            "import of bi/",
            env=self.environment(admin_password),
        )

    def serve(self, host: str, port: int) -> subprocess.Popen:
        """Start Superset's web server (gunicorn, one worker, threads for the charts)."""
        if not _port_free(host, port):
            raise ServiceError(f"cannot serve Superset: {host}:{port} is in use")
        log = self.log_path.open("ab")
        args = [
            str(self.venv / "bin" / "gunicorn"),
            "--bind",
            f"{host}:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--timeout",
            "120",
            # on stop, let running chart queries end for a few seconds, not half a minute
            "--graceful-timeout",
            "5",
            "superset.app:create_app()",
        ]
        proc = subprocess.Popen(
            args, env=self.environment(), cwd=self.state_dir, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        return proc


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        # as gunicorn binds: a port whose last connections linger in TIME_WAIT is free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_healthy(base_url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    """Return once Superset answers /health; fail if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"Superset exited with code {proc.returncode} while starting")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{base_url}/health", timeout=5) as reply,
        ):
            if reply.status == 200:
                return
        time.sleep(1)
    raise ServiceError(f"Superset did not answer {base_url}/health within {timeout:.0f}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
