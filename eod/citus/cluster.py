"""A local Citus cluster: a coordinator and two workers on loopback ports.

`eod citus up` initialises (once) and starts three Postgres instances under
`<EOD_STATE_DIR>/citus/`, each with `shared_preload_libraries = 'citus'`, creates the
database `eod` on every node with `create extension citus`, and registers the
coordinator and the workers in it. The coordinator's URL is then ready for
`eod db migrate` and the close. Postgres and Citus come from the machine: the first
`pg_config` whose library folder holds `citus.so` (EOD_CITUS_PG_CONFIG names one).

Postgres refuses to run as root; as root the instances run as the `postgres` system
user, which owns their folders.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import random
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from eod.errors import ServiceError

DEFAULT_PORT = 9700
DATABASE = "eod"
NODE_NAMES = ("coordinator", "worker1", "worker2")
HOST = "127.0.0.1"

INSTALL_HINT = (
    "install Citus 13 for it from Citus's packages "
    "(https://docs.citusdata.com/en/stable/installation/); in a checkout of this "
    "project, ../shared/vendor/citus/build.sh builds it"
)

# Settings of every node. A small footprint (three instances share one machine); the
# rest is Postgres's defaults.
NODE_SETTINGS = {
    "shared_preload_libraries": "'citus'",
    "listen_addresses": f"'{HOST}'",
    "unix_socket_directories": "''",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "work_mem": "64MB",
    "max_worker_processes": "32",
    # the close's postings and the proof of reserves run transactions across nodes
    "max_prepared_transactions": "200",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %d '",
}


class CitusNotInstalled(ServiceError):
    """No Postgres on this machine has the Citus extension."""


@dataclass(frozen=True)
class PostgresInstall:
    bin_dir: Path
    lib_dir: Path
    version: str

    @property
    def has_citus(self) -> bool:
        return (self.lib_dir / "citus.so").exists()

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)


def _pg_config(path: str) -> PostgresInstall | None:
    try:
        out = subprocess.run(
            [path, "--bindir", "--pkglibdir", "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    return PostgresInstall(Path(out[0]), Path(out[1]), out[2].strip())


def find_postgres() -> PostgresInstall:
    """The Postgres whose library folder holds citus.so, or a one-line CitusNotInstalled."""
    candidates: list[str] = []
    if os.environ.get("EOD_CITUS_PG_CONFIG"):
        candidates.append(os.environ["EOD_CITUS_PG_CONFIG"])
    else:
        if shutil.which("pg_config"):
            candidates.append(shutil.which("pg_config"))
        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_config"), reverse=True)
        candidates += sorted(glob.glob("/usr/pgsql-*/bin/pg_config"), reverse=True)
    seen: list[PostgresInstall] = []
    for path in candidates:
        install = _pg_config(path)
        if install is None:
            continue
        if install.has_citus:
            return install
        seen.append(install)
    if not seen:
        raise CitusNotInstalled(
            "no Postgres found (no pg_config on PATH or in /usr/lib/postgresql): "
            "install Postgres 15+ and " + INSTALL_HINT
        )
    where = ", ".join(f"{i.version} ({i.lib_dir})" for i in seen)
    raise CitusNotInstalled(f"Citus is not installed for {where}: {INSTALL_HINT}")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port_block(size: int = len(NODE_NAMES)) -> int:
    """The first of `size` consecutive free loopback ports, away from the default 9700."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 40000)
        if all(_port_free(base + i) for i in range(size)):
            return base
    raise ServiceError(f"no {size} consecutive free ports found on {HOST}")


def url_for(port: int, database: str = DATABASE) -> str:
    return f"postgresql://postgres@{HOST}:{port}/{database}"


@contextlib.contextmanager
def _cursor(port: int, database: str):
    """A cursor on one node's database, autocommit (CREATE DATABASE needs it)."""
    conn = psycopg2.connect(url_for(port, database), connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


@dataclass(frozen=True)
class Node:
    name: str
    port: int
    data_dir: Path

    @property
    def is_coordinator(self) -> bool:
        return self.name == "coordinator"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"


class LocalCluster:
    """The cluster under `<state_dir>/citus`: its nodes, ports and Postgres."""

    def __init__(self, state_dir: Path, port: int | None = None):
        self.root = Path(state_dir).absolute() / "citus"
        self.config_file = self.root / "cluster.json"
        stored = self._stored()
        if port is not None and stored and stored["port"] != port and self._initialised():
            raise ServiceError(
                f"the cluster in {self.root} listens on port {stored['port']}: "
                f"use --port {stored['port']}, or `eod citus down --delete` first"
            )
        self.port = port or (stored or {}).get("port") or DEFAULT_PORT
        self.nodes = [
            Node(name, self.port + i, self.root / name) for i, name in enumerate(NODE_NAMES)
        ]

    # -- state ---------------------------------------------------------------------------

    def _stored(self) -> dict | None:
        with contextlib.suppress(OSError, ValueError):
            return json.loads(self.config_file.read_text())
        return None

    def _initialised(self) -> bool:
        return any((self.root / name / "PG_VERSION").exists() for name in NODE_NAMES)

    @property
    def coordinator(self) -> Node:
        return self.nodes[0]

    @property
    def workers(self) -> list[Node]:
        return self.nodes[1:]

    def url(self, database: str = DATABASE) -> str:
        return url_for(self.coordinator.port, database)

    # -- processes -----------------------------------------------------------------------

    def _service_user(self) -> pwd.struct_passwd | None:
        """Who runs Postgres: this user, or `postgres` when this is root."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise ServiceError(
                "Postgres refuses to run as root and there is no `postgres` system user "
                "to run the cluster as: create one, or run eod as another user"
            ) from None

    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        user = self._service_user()
        kwargs = {}
        if user is not None:
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        if user is not None:
            env["HOME"] = user.pw_dir
        return subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, cwd=self.root, env=env, **kwargs
        )

    def _prepare_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServiceError(f"cannot use {self.root} for the cluster: {exc.strerror}") from None
        user = self._service_user()
        if user is None:
            return
        # the service user must reach its folders: make the ancestors traversable
        for parent in self.root.parents:
            mode = parent.stat().st_mode
            if mode & 0o001 == 0:
                parent.chmod(mode | 0o001)
        os.chown(self.root, user.pw_uid, user.pw_gid)

    def _is_running(self, install: PostgresInstall, node: Node) -> bool:
        if not (node.data_dir / "PG_VERSION").exists():
            return False
        done = self._run([install.tool("pg_ctl"), "status", "-D", str(node.data_dir)])
        return done.returncode == 0

    def _init_node(self, install: PostgresInstall, node: Node) -> None:
        if (node.data_dir / "PG_VERSION").exists():
            return
        done = self._run(
            [
                install.tool("initdb"),
                "-D",
                str(node.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",  # a local cluster: the OS flushes the new files in its own time
            ]
        )
        if done.returncode != 0:
            raise ServiceError(f"initdb of the {node.name} failed: {_last_line(done)}")
        conf = node.data_dir / "postgresql.conf"
        settings = {**NODE_SETTINGS, "port": str(node.port)}
        with conf.open("a") as out:
            out.write("\n# eod citus up\n")
            for key, value in settings.items():
                out.write(f"{key} = {value}\n")

    def _start_node(self, install: PostgresInstall, node: Node) -> None:
        if self._is_running(install, node):
            return
        if not _port_free(node.port):
            raise ServiceError(
                f"port {node.port} ({node.name}) is taken on {HOST}: "
                f"choose other ports with `eod citus up --port N` (uses N, N+1, N+2)"
            )
        started = self._run(
            [
                install.tool("pg_ctl"),
                "start",
                "-w",
                "-t",
                "90",
                "-D",
                str(node.data_dir),
                "-l",
                str(node.log_file),
            ]
        )
        if started.returncode != 0:
            tail = ""
            with contextlib.suppress(OSError):
                lines = node.log_file.read_text().strip().splitlines()
                tail = lines[-1] if lines else ""
            raise ServiceError(
                f"the {node.name} did not start on port {node.port}: {tail or _last_line(started)}"
            )

    # -- commands ------------------------------------------------------------------------

    def up(self) -> str:
        """Start (and on first use create) the cluster; return the coordinator's URL."""
        install = find_postgres()
        self._prepare_root()
        for node in self.nodes:
            self._init_node(install, node)
        self.config_file.write_text(
            json.dumps({"port": self.port, "pg_bin": str(install.bin_dir)}, indent=2) + "\n"
        )
        for node in self.nodes:
            self._start_node(install, node)
        try:
            self.create_database(DATABASE)
        except psycopg2.Error as exc:
            first = (str(exc).strip().splitlines() or ["no message"])[0]
            raise ServiceError(f"the cluster started but could not be set up: {first}") from None
        return self.url()

    def down(self, delete: bool = False) -> list[str]:
        """Stop every node (fast shutdown); with delete, remove the cluster's folder."""
        stopped = []
        install = None
        for node in reversed(self.nodes):
            if not (node.data_dir / "PG_VERSION").exists():
                continue
            install = install or self._install_for_stop()
            if self._is_running(install, node):
                done = self._run(
                    [install.tool("pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(node.data_dir)]
                )
                if done.returncode != 0:
                    raise ServiceError(f"the {node.name} did not stop: {_last_line(done)}")
                stopped.append(node.name)
        if delete and self.root.exists():
            shutil.rmtree(self.root)
        return stopped

    def _install_for_stop(self) -> PostgresInstall:
        stored = self._stored() or {}
        if stored.get("pg_bin"):
            bin_dir = Path(stored["pg_bin"])
            return PostgresInstall(bin_dir, bin_dir.parent / "lib", "")
        return find_postgres()

    def status(self) -> list[tuple[str, int, str]]:
        """(node, port, state) for every node; state names the database's view of it."""
        rows = []
        registered: dict[int, str] = {}
        coordinator_up = False
        with contextlib.suppress(psycopg2.Error):
            with _cursor(self.coordinator.port, DATABASE) as cur:
                cur.execute(
                    """select nodeport, case when isactive then 'active' else 'inactive' end
                              || case when shouldhaveshards then ', holds shards'
                                      else ', no shards' end
                       from pg_dist_node"""
                )
                registered = dict(cur.fetchall())
            coordinator_up = True
        for node in self.nodes:
            if not (node.data_dir / "PG_VERSION").exists():
                state = "not created"
            elif not _answers(node.port):
                state = "stopped"
            elif node.is_coordinator:
                state = "running, coordinator" if coordinator_up else "running"
            else:
                state = "running, " + registered.get(node.port, "not registered")
            rows.append((node.name, node.port, state))
        return rows

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds each node's processes have used so far (this machine's /proc):
        the postmaster's own and its reaped backends' time, plus its live backends'."""
        tick = os.sysconf("SC_CLK_TCK")
        stats = _proc_stats()
        used = {}
        for node in self.nodes:
            try:
                postmaster = int((node.data_dir / "postmaster.pid").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            own = stats.get(postmaster)
            if own is None:
                continue
            ticks = own[1] + own[2] + own[3] + own[4]
            ticks += sum(s[1] + s[2] for pid, s in stats.items() if s[0] == postmaster)
            used[node.name] = ticks / tick
        return used

    # -- databases -----------------------------------------------------------------------

    def create_database(self, database: str, citus: bool = True) -> str:
        """A database on every node, with Citus in it and the workers registered (or,
        `citus=False`, a plain database that make_coordinator turns into one); its URL."""
        for node in self.nodes:
            with _cursor(node.port, "postgres") as cur:
                cur.execute("select 1 from pg_database where datname = %s", (database,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{database}"')
        if citus:
            self.make_coordinator(database)
        return self.url(database)

    def make_coordinator(self, database: str) -> None:
        """`create extension citus` on every node, the coordinator and workers registered."""
        for node in self.nodes:
            with _cursor(node.port, database) as cur:
                cur.execute("create extension if not exists citus")
        with _cursor(self.coordinator.port, database) as cur:
            cur.execute("select citus_set_coordinator_host(%s, %s)", (HOST, self.coordinator.port))
            cur.execute("select nodeport from pg_dist_node")
            known = {row[0] for row in cur.fetchall()}
            for worker in self.workers:
                if worker.port not in known:
                    cur.execute("select citus_add_node(%s, %s)", (HOST, worker.port))

    def drop_database(self, database: str) -> None:
        """Drop a database from every node (the coordinator first: it holds the metadata)."""
        for node in self.nodes:
            with _cursor(node.port, "postgres") as cur:
                cur.execute(f'drop database if exists "{database}" with (force)')


def _proc_stats() -> dict[int, tuple[int, int, int, int, int]]:
    """pid -> (parent pid, utime, stime, cutime, cstime) of every process, in ticks."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may hold spaces: split after its closing parenthesis
        fields = text[text.rindex(")") + 2 :].split()
        stats[int(entry.name)] = (
            int(fields[1]),
            int(fields[11]),
            int(fields[12]),
            int(fields[13]),
            int(fields[14]),
        )
    return stats


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1):
        return True
    return False


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = (done.stderr or done.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit code {done.returncode}"
