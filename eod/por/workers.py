"""Building several currencies' trees side by side, one worker process per CPU.

Converting the rows and hashing the nodes is pure Python and holds the GIL, so one
process builds one tree at a time however many CPUs there are. Each worker process
opens its own connection (its own server-side sort) and builds whole trees; the caller
only collects the roots.

- Workers are spawned, never forked: the caller is a Prefect flow with threads and
  open connections, which a forked child would inherit in whatever state they were in.
- Every worker reads in the caller's snapshot (pg_export_snapshot), so the trees are
  made of the same rows as if one transaction had read them all.
- Workers connect with the caller's application_name: the close's step watchdog
  terminates a timed-out step's backends by that name.
- Jobs are taken in the order given (the caller gives the largest first), so the last
  trees to start are small and the workers finish close together.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import traceback
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection, wait

from eod.config import int_setting
from eod.db import set_application_name, transaction
from eod.errors import EodError
from eod.por.leaves import sort_in_memory, tree_of
from eod.por.tree import Root
from eod.process_memory import own_peak_mib

WORKERS_SETTING = "EOD_POR_WORKERS"


@dataclass(frozen=True)
class TreeJob:
    database_url: str
    snapshot: str  # pg_export_snapshot() of the caller's open transaction
    business_date: date
    currency: str


@dataclass(frozen=True)
class BuiltTree:
    currency: str
    root: Root
    peak_mib: float | None  # the worker's own peak resident set


def cpu_count() -> int:
    """CPUs this process may run on (a container's affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(trees: int, requested: int | None = None) -> int:
    """Processes for `trees` trees: `requested` when given (tests, benchmarks), otherwise
    EOD_POR_WORKERS or the CPU count, capped at the CPUs (more would only contend); never
    more than there are trees."""
    if requested is None:
        cpus = cpu_count()
        requested = min(int_setting(WORKERS_SETTING, cpus, minimum=1), cpus)
    return max(1, min(trees, requested))


def _survives_pickling(exc: BaseException) -> bool:
    try:
        copy = pickle.loads(pickle.dumps(exc))
    except Exception:
        return False
    return type(copy) is type(exc) and str(copy) == str(exc)


def build_tree(job: TreeJob) -> BuiltTree:
    """In a worker process: the tree of one currency, read in the caller's snapshot."""
    try:
        with transaction(job.database_url) as conn:
            with conn.cursor() as cur:
                cur.execute("set transaction isolation level repeatable read")
                cur.execute("set transaction snapshot %s", (job.snapshot,))
                sort_in_memory(cur)
            root, _ = tree_of(conn, job.business_date, job.currency)
    except Exception as exc:
        # The error travels to the caller pickled. One that would not survive the trip
        # would fail the worker's send (and read as a dead worker) or the caller's
        # receive, instead of reaching the caller as itself.
        if _survives_pickling(exc):
            raise
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise EodError(f"{type(exc).__name__}: {first_line}") from None
    return BuiltTree(job.currency, root, own_peak_mib())


class WorkerTraceback(Exception):
    """The traceback of an error raised in a worker process, shown as its cause."""


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection  # the parent's end of the worker's own pipe
    job: TreeJob | None = None  # what it is building

    def how_it_ended(self) -> str:
        self.process.join(1)
        code = self.process.exitcode
        if code is None:
            return "closed its pipe"
        if code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"


def _serve(conn: Connection, application_name: str) -> None:
    """A worker process: build the trees the parent sends until it sends None."""
    set_application_name(application_name)
    while (job := conn.recv()) is not None:
        try:
            conn.send((build_tree(job), None, None))
        except Exception as exc:
            conn.send((None, exc, traceback.format_exc()))


def build_in_workers(jobs: list[TreeJob], workers: int, application_name: str) -> list[BuiltTree]:
    """Every job's tree, in `workers` spawned processes that take the jobs in the order
    given. The first error is raised as the worker raised it; a worker that dies fails
    the build with one line. Either way the other workers are stopped at once.

    Each worker has a pipe of its own, and the parent waits on the pipes and the
    processes together: a worker killed at any moment (mid-message included) is seen
    as such and cannot leave a shared queue or lock behind for the others to block on."""
    context = multiprocessing.get_context("spawn")
    pool: list[_Worker] = []
    pending = list(jobs)
    built: list[BuiltTree] = []
    try:
        for _ in range(workers):
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=_serve, args=(child_end, application_name), daemon=True
            )
            process.start()
            child_end.close()
            pool.append(_Worker(process, parent_end))
        while pending or any(worker.job for worker in pool):
            for worker in pool:
                if worker.job is None and pending:
                    worker.job = pending.pop(0)
                    try:
                        worker.conn.send(worker.job)
                    except OSError:
                        raise _death(worker) from None
            busy = [worker for worker in pool if worker.job]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.conn in ready:
                    try:
                        tree, error, remote_traceback = worker.conn.recv()
                    except (EOFError, OSError):
                        raise _death(worker) from None
                    if error is not None:
                        raise error from WorkerTraceback(remote_traceback)
                    built.append(tree)
                    worker.job = None
                elif worker.process.sentinel in ready:
                    raise _death(worker) from None
    finally:
        _stop(pool)
    return built


def _death(worker: _Worker) -> EodError:
    job = worker.job
    return EodError(
        f"the proof-of-reserves worker process building {job.currency} for"
        f" {job.business_date} {worker.how_it_ended()} (out of memory?); no root was published"
    )


def _stop(pool: list[_Worker]) -> None:
    """Idle workers are told to exit; busy ones (the build has failed) are terminated."""
    for worker in pool:
        if worker.job is None and worker.process.is_alive():
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        else:
            worker.process.terminate()
    for worker in pool:
        worker.process.join(5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
