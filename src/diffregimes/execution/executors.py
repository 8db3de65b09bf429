"""Executors: where work units run — in this process, in a local process pool, or on a Ray cluster.

Every executor has the same small interface, used by :func:`diffregimes.execution.schedule.run_units`:
``submit(unit)`` starts a unit, ``wait()`` returns the units that ended since (each with its result, its
exception, or "lost" when its worker died), ``close()`` releases the workers. Scheduling, retries, the
result store and progress live in the scheduler, so the three executors differ only in where a unit runs.

Threads: a unit that uses torch gets ``threads`` intra-op threads, by default the cores this process may
run on divided by the number of units running side by side, so the cores are used and not oversubscribed.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing as mp
import os
import signal
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError
from ..work import Unit, available_cores, execute

EXECUTORS = ("serial", "process", "ray")


@dataclass(frozen=True)
class Outcome:
    """How a submitted unit ended: ``value`` when ``ok``; else ``error`` (raised) or lost with its worker."""

    unit: Unit
    ok: bool
    value: Any = None
    error: BaseException | None = None
    lost: bool = False


class Executor(ABC):
    """Runs units; see the module docstring for the protocol."""

    name: str = ""

    def __init__(self, workers: int, threads: int | None = None) -> None:
        self.workers = int(workers)
        self.threads = threads if threads is not None else max(1, available_cores() // self.workers)

    @abstractmethod
    def submit(self, unit: Unit) -> None:
        """Start ``unit`` (at most :attr:`workers` are submitted at a time by the scheduler)."""

    @abstractmethod
    def wait(self) -> list[Outcome]:
        """Block until at least one submitted unit has ended; return every one that has."""

    def close(self) -> None:  # noqa: B027 - optional: the serial executor holds nothing
        """Release the workers (idempotent)."""

    def abort(self) -> None:
        """Stop now (Ctrl-C, an error): running units are abandoned, not awaited. Whatever they had stored
        (unit results, training checkpoints) was written atomically and is reused by the next run."""
        self.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        """One line for the log: executor, workers and threads per unit."""
        return f"{self.name} executor: {self.workers} worker(s) x {self.threads} thread(s)"


class SerialExecutor(Executor):
    """Runs each unit in this process, one at a time, when :meth:`wait` is called (no extra install)."""

    name = "serial"

    def __init__(self, threads: int | None = None) -> None:
        super().__init__(1, threads)
        self._queue: list[Unit] = []

    def submit(self, unit: Unit) -> None:
        self._queue.append(unit)

    def wait(self) -> list[Outcome]:
        unit = self._queue.pop(0)
        try:
            return [Outcome(unit, True, execute(unit, self.threads))]
        except ValidationError:
            raise  # bad input is not retried: it would fail the same way
        except Exception as exc:  # noqa: BLE001 - the scheduler retries, then re-raises it
            return [Outcome(unit, False, error=exc)]


def _init_worker(threads: int, parent: int) -> None:
    """A spawned worker: its thread budget; Ctrl-C is the driver's to handle (one line, not one traceback per
    worker); and it ends when the driver does, whether the driver exited, was killed (SIGKILL, SIGTERM) or
    crashed, instead of living on as an orphan."""
    os.environ["DIFFREGIMES_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="parent-watch").start()


def _exit_with_parent(parent: int, period_s: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(period_s)
    os._exit(1)  # the driver is gone: nobody will read this worker's results


class ProcessExecutor(Executor):
    """A local pool of ``workers`` spawned processes; a pool broken by a dying worker is replaced.

    Spawned (not forked) so that a worker never inherits torch's thread pools or a locked mutex.
    """

    name = "process"

    def __init__(self, workers: int, threads: int | None = None) -> None:
        super().__init__(workers, threads)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._running: dict[cf.Future, Unit] = {}

    def _ensure_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=mp.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.threads, os.getpid()),
            )
        return self._pool

    def submit(self, unit: Unit) -> None:
        try:
            future = self._ensure_pool().submit(execute, unit, self.threads)
        except cf.process.BrokenProcessPool:
            self._replace_pool()
            future = self._ensure_pool().submit(execute, unit, self.threads)
        self._running[future] = unit

    def wait(self) -> list[Outcome]:
        done, _ = cf.wait(list(self._running), return_when=cf.FIRST_COMPLETED)
        outcomes = [self._outcome(f, self._running.pop(f)) for f in done]
        if any(o.lost for o in outcomes):
            # a dead worker breaks the whole pool: every unit still in it is lost too
            outcomes += [Outcome(u, False, lost=True) for u in self._running.values()]
            self._running.clear()
            self._replace_pool()
        return outcomes

    @staticmethod
    def _outcome(future: cf.Future, unit: Unit) -> Outcome:
        try:
            return Outcome(unit, True, future.result())
        except cf.process.BrokenProcessPool as exc:
            return Outcome(unit, False, error=exc, lost=True)
        except ValidationError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried by the scheduler
            return Outcome(unit, False, error=exc)

    def _replace_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self) -> None:
        if self._pool is None:
            return
        terminate = getattr(self._pool, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
        else:  # a unit may train for an hour: Ctrl-C must not wait for it (the pool has no public way before 3.14)
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None


class RayExecutor(Executor):
    """Units as Ray tasks: on a local Ray started here (``address`` None) or on an existing cluster.

    Ray re-runs a task whose worker died (``max_retries``); a unit that raises comes back to the
    scheduler, which retries it like any other executor's. A unit using torch asks for ``threads`` CPUs
    and, when the cluster has GPUs, an equal share of one (``num_gpus``). With ``quiet`` (``--no-progress``)
    Ray's own start-up lines (INFO and WARNING: the local instance started, token authentication on) are
    not printed; its errors are.
    """

    name = "ray"

    def __init__(
        self,
        workers: int | None,
        address: str | None = None,
        threads: int | None = None,
        retries: int = 2,
        quiet: bool = False,
    ):
        ray = _import_ray()
        self._ray = ray
        self._started_here = not ray.is_initialized()
        level = logging.ERROR if quiet else logging.INFO  # INFO: Ray's own default
        if self._started_here:
            if address:
                _connect_ray(ray, address, level)
            else:
                _session_token()
                ray.init(
                    num_cpus=workers or available_cores(),
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=level,
                )
        cpus = int(ray.cluster_resources().get("CPU", 1))
        gpus = float(ray.cluster_resources().get("GPU", 0))
        super().__init__(workers or cpus, threads if threads is not None else max(1, cpus // (workers or cpus)))
        self._gpu_share = min(1.0, gpus / self.workers) if gpus else 0.0
        self._task = ray.remote(max_retries=retries)(execute)
        self._running: dict[Any, Unit] = {}

    def submit(self, unit: Unit) -> None:
        options: dict[str, Any] = {"num_cpus": self.threads if unit.torch else 1}
        if unit.torch and self._gpu_share:
            options["num_gpus"] = self._gpu_share
        ref = self._task.options(**options).remote(unit, self.threads)
        self._running[ref] = unit

    def wait(self) -> list[Outcome]:
        ray = self._ray
        ready, _ = ray.wait(list(self._running), num_returns=1)
        outcomes = []
        for ref in ready:
            unit = self._running.pop(ref)
            try:
                outcomes.append(Outcome(unit, True, ray.get(ref)))
            except ray.exceptions.RayTaskError as exc:
                cause = exc.as_instanceof_cause()
                if isinstance(cause, ValidationError):
                    raise cause from None
                outcomes.append(Outcome(unit, False, error=cause))
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
                outcomes.append(Outcome(unit, False, error=exc, lost=True))
        return outcomes

    def close(self) -> None:
        for ref in list(self._running):
            self._ray.cancel(ref, force=True)
        self._running.clear()
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()

    def describe(self) -> str:
        gpu = f", {self._gpu_share:g} GPU per torch unit" if self._gpu_share else ""
        return super().describe() + gpu


RAY_CONNECT_TIMEOUT_S = 30.0
_RAY_AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def _session_token() -> None:
    """A local Ray started here keeps token authentication, but with a token of this process's own (in its
    environment, inherited by Ray's workers) instead of one Ray would generate and write to ~/.ray/auth_token,
    outside --out. A user's own Ray authentication settings are left alone."""
    import secrets

    if not any(v in os.environ for v in _RAY_AUTH_VARS):
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)


def _connect_ray(ray: Any, address: str, logging_level: int = logging.INFO) -> None:
    """Join the Ray cluster at ``address`` ("host:port", "ray://host:port" or "auto"); one line naming
    ``--address`` when it is malformed or nothing answers within :data:`RAY_CONNECT_TIMEOUT_S` seconds (Ray
    itself keeps retrying for minutes). ``logging_level``: the lowest level of Ray's own lines shown."""
    if address != "auto":
        host, _, port = address.removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValidationError(f"--address must be host:port, ray://host:port or auto: address={address!r}")
        try:
            socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise ValidationError(
                f"--address {address}: no Ray cluster answers there ({exc.strerror or exc})"
            ) from None
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging_level)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ValidationError(f"--address {address}: cannot join a Ray cluster ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValidationError('--executor ray needs Ray: pip install "diffregimes[ray]" (or pip install ray)') from None
    return ray


def make_executor(
    kind: str,
    workers: int | None = None,
    address: str | None = None,
    threads: int | None = None,
    *,
    quiet: bool = False,
) -> Executor:
    """The executor named ``kind`` (serial, process, ray) with ``workers`` units side by side, each using
    ``threads`` intra-op threads; ``quiet`` (``--no-progress``) silences Ray's start-up lines.

    Defaults: serial runs one unit at a time with every core; process uses one worker per core; ray
    uses the cluster's CPUs (a local Ray with this machine's cores when ``address`` is None); threads:
    the cores divided by the workers. Results are byte-identical across executors at equal ``threads``;
    torch's CPU kernels may round differently with another thread count.
    """
    if kind not in EXECUTORS:
        raise ValidationError(f"--executor must be one of {', '.join(EXECUTORS)}: executor={kind!r}")
    if address and kind != "ray":
        raise ValidationError(f"--address needs --executor ray: executor={kind!r}")
    if workers is not None and not 1 <= workers <= 4096:
        raise ValidationError(f"--workers must be in [1, 4096]: workers={workers}")
    if threads is not None and not 1 <= threads <= 1024:
        raise ValidationError(f"--threads must be in [1, 1024]: threads={threads}")
    if kind == "serial":
        if workers not in (None, 1):
            raise ValidationError(f"--workers > 1 needs --executor process or ray: workers={workers}")
        return SerialExecutor(threads)
    if kind == "process":
        return ProcessExecutor(workers or available_cores(), threads)
    return RayExecutor(workers, address, threads, quiet=quiet)


def chunks(n: int, size: int) -> Iterator[range]:
    """``range(n)`` cut into consecutive ranges of at most ``size`` (the last may be shorter)."""
    for start in range(0, n, max(1, size)):
        yield range(start, min(n, start + max(1, size)))
