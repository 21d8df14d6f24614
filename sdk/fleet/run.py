"""Fleet runs: every place that matches, reserved, acquired, run in parallel, released.

    places matching the tags -> host work once per board profile -> per place, in a pool of
    --max-parallel threads: reserve, wait up to --wait, acquire, open SSH, run, release

What runs on the host and on each board is a :class:`Job` (``sdk deploy`` or ``sdk bench``,
built from their own functions in :mod:`sdk.fleet.jobs`). A board that fails, times out or
stays busy ends as its own result; the others go on. Every place and reservation this run
holds is released in ``finally`` (Ctrl-C and SIGTERM included: SIGTERM is turned into
Ctrl-C while the run lasts); a Ctrl-C also drops the boards' SSH connections at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sdk.boards import BoardEntry, BoardProfile, load_profile
from sdk.errors import Interrupted, SdkError
from sdk.fleet.boards import PlaceBusy, acquire_place, entry_for, release_place
from sdk.fleet.coordinator import Coordinator, FleetError
from sdk.fleet.report import FAIL, INTERRUPTED, PASS, SKIPPED, BoardRun, FleetReport
from sdk.report import Steps

STOP_WAIT_S = 20.0  # after Ctrl-C: how long the workers get to notice before we go


@dataclass
class Outcome:
    """What one board's run gave: pass or fail, the p50 per variant, the report."""

    ok: bool
    p50_ms: dict[str, float] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    path: str | None = None
    error: str | None = None


@dataclass
class Job:
    """A fleet run's work: ``build`` once per board profile on the host, ``run`` per board
    (with an open, not yet probed session)."""

    kind: str
    model: str
    build: Callable[[BoardProfile, Steps], Any]
    run: Callable[[Any, BoardEntry, Any, Steps], Outcome]


class BoardSteps(Steps):
    """Progress of one board's run, each line prefixed with its place (threads interleave)."""

    def __init__(self, parent: Steps, prefix: str) -> None:
        super().__init__(quiet=parent.quiet, stream=parent.stream)
        self.tty = False  # no progress bars from several threads
        self.prefix = prefix

    def _print(self, msg: str) -> None:
        super()._print(f"[{self.prefix}] {msg}")


def parse_tags(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``K=V`` filters, checked with labgrid's own tag syntax."""
    from labgrid.remote.common import TAG_KEY, TAG_VAL

    tags: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not TAG_KEY.match(k) or not TAG_VAL.match(v):
            raise SdkError(f"bad --tag {item!r}", expected=f"K=V with K like {TAG_KEY.pattern} and V like "
                           f"{TAG_VAL.pattern}", found=repr(item), fix="e.g. --tag profile=rk3399")
        tags[k] = v
    return tags


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt as Ctrl-C does (until the boards run)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def _signals_set(event: threading.Event) -> Iterator[None]:
    """While the boards run, SIGINT and SIGTERM only set ``event``: the main loop polls it. A
    KeyboardInterrupt raised at an arbitrary point of the main thread can land in a finalizer
    (a dropped SSH or gRPC object), which swallows it; a flag cannot be lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        event.set()

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


class _Fleet:
    def __init__(self, coord: Coordinator, job: Job, wait: float, steps: Steps) -> None:
        self.coord, self.job, self.wait, self.steps = coord, job, wait, steps
        self.stop = threading.Event()
        self.sessions: dict[str, Any] = {}
        self.held: set[str] = set()  # every place this run acquired (to check the release)
        self.lock = threading.Lock()

    def one(self, entry: BoardEntry, built: Any, run: BoardRun) -> None:
        """One board, start to end; never raises (its failure is its result)."""
        from sdk.remote import open_session

        t0 = time.time()
        steps = BoardSteps(self.steps, run.place)
        token = None
        try:
            token = acquire_place(self.coord, run.place, self.wait, steps.log, self.stop)
            with self.lock:
                self.held.add(run.place)
            steps.log(f"acquired labgrid place {run.place} ({entry.user}@{entry.host}:{entry.port})")
            session = open_session(entry)
            with self.lock:
                self.sessions[run.place] = session
            if self.stop.is_set():
                session.abort()
            with session:
                out = self.job.run(session, entry, built, steps)
            run.status, run.p50_ms, run.report, run.report_path = (PASS if out.ok else FAIL), out.p50_ms, \
                out.report, out.path
            run.error = None if out.ok else (out.error or "did not pass on the board")
        except PlaceBusy as exc:
            run.status, run.error = SKIPPED, exc.one_line()
        except SdkError as exc:
            run.status, run.error = (INTERRUPTED if self.stop.is_set() else FAIL), exc.one_line()
        except Exception as exc:  # a board's unexpected failure is still only that board's
            run.status = INTERRUPTED if self.stop.is_set() else FAIL
            run.error = f"{type(exc).__name__}: {exc}"
        finally:
            with self.lock:
                self.sessions.pop(run.place, None)
            if token is not None:
                try:
                    release_place(self.coord, run.place, token)
                    steps.log(f"released labgrid place {run.place}")
                except SdkError as exc:  # the run's final release_all tries again
                    steps.log(f"could not release place {run.place}: {exc.one_line()}")
            run.seconds = time.time() - t0
            steps.log(f"{run.status}" + (f": {run.error}" if run.error else "") + f" in {run.seconds:.0f}s")

    def run_all(self, work: list[tuple[BoardEntry, Any, BoardRun]], max_parallel: int) -> None:
        pool = cf.ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="fleet")
        futs = [pool.submit(self.one, entry, built, run) for entry, built, run in work]
        signalled = threading.Event()
        try:
            with _signals_set(signalled):
                while not all(f.done() for f in futs):
                    cf.wait(futs, timeout=0.5)
                    if signalled.is_set():
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            self.interrupt(futs)
            pool.shutdown(wait=False, cancel_futures=True)
            for _, _, run in work:
                if run.status == FAIL and run.error is None:
                    run.status, run.error = INTERRUPTED, "interrupted before it ran"
            raise
        pool.shutdown(wait=True)

    def interrupt(self, futs: list[cf.Future[None]]) -> None:
        """Ctrl-C: stop waiting, drop every SSH connection, release; give workers a moment
        (a second Ctrl-C meanwhile is ignored: the release is bounded)."""
        with _signals_set(threading.Event()):
            self.stop.set()
            with self.lock:
                sessions = list(self.sessions.values())
            for s in sessions:
                with contextlib.suppress(Exception):
                    s.abort()
            self.coord.release_all()
            cf.wait(futs, timeout=STOP_WAIT_S)


def _build(job: Job, entries: Mapping[str, BoardEntry], runs: Mapping[str, BoardRun],
           steps: Steps) -> dict[str, Any]:
    """The host's work once per profile; a profile that fails fails its boards only."""
    built: dict[str, Any] = {}
    for profile in sorted({e.profile for e in entries.values()}):
        boards = sorted(p for p, e in entries.items() if e.profile == profile)
        with steps.step(f"host work for {profile} ({len(boards)} board{'s' * (len(boards) > 1)}: "
                        f"{', '.join(boards)})"):
            try:
                built[profile] = job.build(load_profile(profile), steps)
            except SdkError as exc:
                for p in boards:
                    runs[p].error = f"on the host for {profile}: {exc.one_line()}"
                steps.log(f"FAILED: {exc.one_line()}")
    return built


def run_fleet(job: Job, address: str, tags: Mapping[str, str], *, max_parallel: int = 4, wait: float = 300.0,
              steps: Steps | None = None) -> FleetReport:
    """Run ``job`` on every place of the coordinator at ``address`` whose tags include ``tags``."""
    steps = steps or Steps()
    t0 = time.time()
    if max_parallel < 1:
        raise SdkError("--max-parallel is a count of boards", expected=">= 1", found=str(max_parallel))
    with _sigterm_as_interrupt(), Coordinator(address) as coord:
        rep = FleetReport(job.kind, job.model, coord.address, dict(tags))
        everything = coord.places()
        places = [p for p in everything if p.matches(tags)]
        if not places:
            raise FleetError(f"no labgrid place at {coord.address} has the tags "
                             f"{' '.join(f'{k}={v}' for k, v in tags.items()) or '(any)'}",
                             found=", ".join(f"{p.name} ({' '.join(f'{k}={v}' for k, v in p.tags.items())})"
                                             for p in everything) or "no places",
                             fix="tag places with 'labgrid-client -p PLACE set-tags profile=rk3399'")
        runs = {p.name: BoardRun(p.name, p.profile, p.address and f"{p.username}@{p.address}:{p.port}")
                for p in places}
        rep.boards = list(runs.values())
        entries: dict[str, BoardEntry] = {}
        for p in places:
            try:
                entries[p.name] = entry_for(p, coord.address)
                runs[p.name].emulated = entries[p.name].emulated
            except SdkError as exc:
                runs[p.name].error = exc.one_line()
        built = _build(job, entries, runs, steps)
        work = [(e, built[e.profile], runs[p]) for p, e in sorted(entries.items()) if e.profile in built]
        fleet = _Fleet(coord, job, wait, steps)
        try:
            at_once = min(max_parallel, len(work) or 1)
            with steps.step(f"{job.kind} on {len(work)} boards, {at_once} at a time"):
                fleet.run_all(work, max_parallel)
        except KeyboardInterrupt:
            left = coord.release_all()
            raise Interrupted(f"interrupted: {len(fleet.held)} labgrid places released"
                              + (f", but {'; '.join(left)}" if left else "")) from None
        finally:
            errors = coord.release_all()
            still = [p.name for p in coord.places() if p.name in fleet.held and p.acquired == coord.name]
            rep.released = not errors and not still
            if still:
                rep.notes.append(f"places still acquired: {', '.join(still)}")
    rep.seconds = time.time() - t0
    return rep
