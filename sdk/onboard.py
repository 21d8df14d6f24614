"""The board side of a job, shared by ``sdk deploy`` and ``sdk bench`` (and open to apps):

    open_board  -> the "board" step: resolve the board, its profile, the engines, a session
    check_facts -> probe the board and check it against its profile (a wrong board fails fast)
    staged      -> lock the app, check the disk, push, install the runtime; the caller runs
                   its own step inside, and every step ends the same way on a fault:
                   Ctrl-C drops the link, removes staging, raises Interrupted (exit 130, one
                   line); a lost link names its step; the lock is always released.

The board's own process-group watchdog (sdk.remote.ssh) kills whatever ran there when the
host side goes away, so an aborted session leaves no runner behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sdk import engines
from sdk.boards import BoardEntry, BoardProfile, load_profile
from sdk.errors import BoardBusy, ConnectionLost, Interrupted, NoSpace
from sdk.report import Steps

if TYPE_CHECKING:
    from sdk.bundle import Bundle
    from sdk.remote import Session
    from sdk.remote.board import BoardFacts, Pushed


@dataclass
class Target:
    """A board picked for a job: its inventory entry, profile, the engines it runs, a session."""

    entry: BoardEntry
    profile: BoardProfile
    engines: list[str]
    session: Session


def open_board(board: str | BoardEntry | None, engine: str, steps: Steps,
               check: Callable[[BoardProfile], object] | None = None) -> Target:
    """The "board" step: ``check`` sees the profile before the connection is opened."""
    from sdk.deploy import resolve_board
    from sdk.remote import open_session

    with steps.step("board"):
        entry = resolve_board(board, log=steps.log)
        profile = load_profile(entry.profile)
        names = engines.select(engine, profile.arch, board=profile.name)
        if check is not None:
            check(profile)
        return Target(entry, profile, names, open_session(entry))


def check_facts(target: Target, steps: Steps) -> BoardFacts:
    """Probe the board over the open session and check it is the profile's kind of board."""
    from sdk.remote.board import check_board, probe

    facts = probe(target.session)
    check_board(target.entry.name, facts, target.profile)
    steps.log(f"{target.entry.name}: {facts.machine}, Python {facts.python}, "
              f"{facts.free_bytes / 2**30:.1f} GiB free")
    return facts


def run_timeout(model_bytes: int, runs: int, warmup: int) -> float:
    """Default seconds per model variant on the board: loading and checking grow with the
    model's size, the benchmark with the runs; generous, since an emulated board is slow."""
    mib = model_bytes / 2**20
    return float(round(120 + 20 * mib + (runs + warmup + 1) * (1 + 2 * mib)))


def largest_model(bundle: Bundle) -> int:
    """Bytes of the bundle's largest model file (what the default timeouts scale with)."""
    return max((m.stat().st_size for m in bundle.root.rglob("*")
                if m.is_file() and "models" in m.relative_to(bundle.root).parts), default=0)


@dataclass
class Staged:
    """A pushed bundle with its runtime installed, inside :func:`staged`. The caller names
    the step it is in (``step``), which the fault messages report."""

    pushed: Pushed
    python: str
    step: str = "run"


@contextlib.contextmanager
def staged(target: Target, facts: BoardFacts, bundle: Bundle, app: str, *, wait: float,
           steps: Steps) -> Iterator[Staged]:
    """Lock ``app`` on the board (waiting up to ``wait`` s), push ``bundle``, install its
    runtime, and yield; see the module docstring for what every fault turns into."""
    from sdk.remote.board import AppLock, app_dir, check_disk, ensure_venv, push, remove_staging, venv_dir

    session, board = target.session, target.entry.name
    base = app_dir(facts, app)
    step = "lock"
    job: Staged | None = None
    lock: AppLock | None = None
    try:
        lock = AppLock(session, base, wait=wait, log=steps.log)
        step = "push"
        check_disk(session, bundle, base, venv_dir(bundle, facts))
        with steps.step("push"):
            try:
                pushed = push(session, bundle, facts, app, progress=steps.bytes_progress)
            except NoSpace:
                remove_staging(session, base)
                raise
            steps.log(f"sent {pushed.stats.files_sent} files ({pushed.stats.bytes_sent} bytes), "
                      f"{pushed.stats.files_skipped} unchanged")
        step = "install runtime"
        with steps.step("install runtime on board"):
            python = ensure_venv(session, bundle, pushed, facts, log=steps.log)
        job = Staged(pushed, python)
        yield job
    except KeyboardInterrupt:
        step = job.step if job is not None else step
        session.abort()
        if step == "push":
            _remove_staging_after_interrupt(target.entry, base)
        where = f"{step} to {board}" if step == "push" else f"{step} on {board}"
        raise Interrupted(f"interrupted during {where}; the previous bundle is still current") from None
    except ConnectionLost as exc:
        step = job.step if job is not None else step
        raise ConnectionLost(f"{exc.message} (step: {step})", found=exc.found, fix=exc.fix) from exc
    finally:
        if lock is not None:
            lock.release()


def _remove_staging_after_interrupt(entry: BoardEntry, base: str) -> None:
    """Remove what the interrupted push left, over a new connection, in bounded time; a
    board that does not answer keeps staging (the next deploy resumes or replaces it)."""
    import signal
    import threading

    from sdk.remote import open_session
    from sdk.remote.board import remove_staging

    def work() -> None:
        with contextlib.suppress(Exception), open_session(entry, attempts=1, timeout=4) as s:
            remove_staging(s, base)

    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # cleanup is bounded: no second Ctrl-C
    try:
        t = threading.Thread(target=work, daemon=True)
        t.start()
        t.join(timeout=6)
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def host_lock(work: Path, wait: float, log: Callable[[str], None]) -> Iterator[None]:
    """One job at a time per model on this host (its cache folder is shared)."""
    work.parent.mkdir(parents=True, exist_ok=True)
    with open(work.with_name(work.name + ".lock"), "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "another deploy"
            log(f"{work.name} is being deployed by {owner} on this host; waiting up to {wait:g} s")
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise BoardBusy(f"host BUSY: {work.name} being deployed by {owner}",
                                        fix="wait for it to finish, or pass --wait S") from None
                    time.sleep(0.5)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
