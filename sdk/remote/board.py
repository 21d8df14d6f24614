"""Operations on a board, over any :class:`~sdk.remote.base.Session`: learn what it is,
check it fits a bundle, put the bundle there, install its runtime, run it, switch to it.

Board layout (under the remote user's home)::

    .sdk/apps/<app>/bundles/<bundle_id>/   one directory per bundle
    .sdk/apps/<app>/staging/               the next bundle while it arrives
    .sdk/apps/<app>/current -> bundles/<id>   switched atomically after a passing run
    .sdk/venvs/<wheel-set sha>/            offline venv, created once per wheel set

Staging starts as a hard-linked copy of ``current``, so syncing it sends only the files
whose sha256 changed. ``current`` moves only after the new bundle verified and passed its
golden check: a failed deploy leaves the previous bundle in place and runnable.
"""

from __future__ import annotations

import json
import posixpath
import queue
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sdk.boards import UNAME_MACHINE, BoardProfile
from sdk.bundle import Bundle
from sdk.errors import BoardBusy, BundleError, NoSpace, RemoteError
from sdk.records import BenchPlan, BenchRun, BoardResult, ExitCode, from_json, to_json
from sdk.remote.base import Session
from sdk.remote.sync import SyncStats, sync_dir

VENV_HEADROOM = 600 * 1024 * 1024  # an installed venv is ~3x its wheels; keep a margin

Log = Callable[[str], None]
T = TypeVar("T")


# --------------------------------------------------------------------------- what the board is

_PROBE_SCRIPT = r"""
import json, os, platform, sys
p = sys.argv[1]
st = os.statvfs(p)
sys.stdout.write(json.dumps({
    "machine": os.uname()[4],
    "python": platform.python_version(),
    "free": st.f_bavail * st.f_frsize,
}))
"""


@dataclass
class BoardFacts:
    """What :func:`probe` learns about a board in one command."""

    machine: str  # as `uname -m`
    python: str  # python3's version, "3.11.2"
    free_bytes: int  # free disk for the SSH user at the probed path
    home: str  # the remote user's home


def probe(session: Session, path: str = "~") -> BoardFacts:
    """Machine, python3 version and free disk at ``path`` on the board, in one command."""
    where = session.resolve(path)
    res = session.run(["python3", "-c", _PROBE_SCRIPT, where], timeout=60, check=False)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise RemoteError(
            f"cannot probe board {session.board}",
            expected="python3 on the board and an existing path " + where,
            found=last,
            fix="install python3 on the board",
        )
    try:
        data: dict[str, Any] = json.loads(res.stdout)
        return BoardFacts(
            machine=str(data["machine"]),
            python=str(data["python"]),
            free_bytes=int(data["free"]),
            home=session.resolve("~"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise RemoteError(
            f"cannot read the probe of board {session.board}",
            expected="JSON",
            found=res.stdout[:80] or "(nothing)",
        ) from exc


# --------------------------------------------------------------------------- the bundle on it


@dataclass
class Pushed:
    app_dir: str
    bundle_dir: str
    stats: SyncStats
    models: int = 0  # model variants in the bundle


def check_board(board: str, facts: BoardFacts, profile: BoardProfile) -> None:
    """Refuse a board whose CPU architecture or Python does not fit the profile's bundle."""
    machines = UNAME_MACHINE[profile.arch]
    if facts.machine not in machines:
        raise BundleError(
            f"board '{board}' cannot run a bundle built for {profile.name}: wrong CPU architecture",
            expected=f"{profile.arch} ({'/'.join(machines)}) for profile {profile.name}",
            found=facts.machine,
            fix=f"give '{board}' the profile that matches it ('sdk board list')",
        )
    if not facts.python.startswith(profile.python + ".") and facts.python != profile.python:
        raise BundleError(
            f"board '{board}' has the wrong Python for this bundle's wheels",
            expected=f"Python {profile.python}.x (profile {profile.name})",
            found=f"Python {facts.python}",
            fix="install that Python on the board or use a matching profile",
        )


def check_disk(session: Session, bundle: Bundle, app_path: str, venv: str) -> None:
    """Refuse a board without room for the bundle (on the filesystem that holds the app
    directory) and for its venv (where venvs live), unless that venv exists already."""
    needs = [(app_path, bundle.size)]
    if not session.exists(posixpath.join(venv, ".complete")):
        needs.append((posixpath.dirname(venv), VENV_HEADROOM))
    for path, need in needs:
        free, where = free_space(session, path)
        if free < need:
            raise NoSpace(
                f"no space left on {session.board} (need {need / 2**20:.0f} MiB, "
                f"{free / 2**20:.0f} MiB free on {where})",
                fix="free space on the board (old bundles live in ~/.sdk/apps)",
            )


# staging left by a push a lost connection broke is kept: the sync resumes in it (the app's
# lock guarantees no other deploy is using it). Else it starts as hard links of the bundle of
# the same id, the current one, or the newest (``sdk app run`` never switches ``current``),
# so that only what changed is sent; the sync replaces files, never writes into one.
_STAGE = r"""
set -e
app="$1"; id="$2"
mkdir -p "$app/bundles"
if [ -d "$app/staging" ]; then
  echo "staging kept"
elif [ -d "$app/bundles/$id" ]; then
  cp -al "$app/bundles/$id" "$app/staging"
elif [ -d "$app/current/" ]; then
  cp -al "$(readlink -f "$app/current")" "$app/staging"
else
  newest=$(cd "$app/bundles" && ls -1t | grep -v '^[.]' | head -n 1)
  if [ -n "$newest" ]; then cp -al "$app/bundles/$newest" "$app/staging"; else mkdir -p "$app/staging"; fi
fi
"""

# Never deletes the current bundle or one it did not create: a bundle of the same id (its
# content hash) that still verifies is kept and staging dropped; only a corrupt copy, which
# cannot run anyway, is replaced.
_COMMIT_STAGING = r"""
set -e
app="$1"; id="$2"
b="$app/bundles/$id"
if [ -d "$b" ]; then
  if PYTHONPATH="$b/runtime" python3 -m sdk.device.runner verify "$b" >/dev/null 2>&1; then
    rm -rf "$app/staging"; echo "bundle kept"; exit 0
  fi
  mv -T "$b" "$app/bundles/.corrupt-$id-$$"
  mv -T "$app/staging" "$b"
  rm -rf "$app/bundles/.corrupt-$id-$$"
else
  mv -T "$app/staging" "$b"
fi
"""

_LOCK = r"""
app="$1"; wait="$2"; info="$3"; token="$4"
mkdir -p "$app" || exit 74
exec 9>>"$app/.lock"
if ! flock -n 9; then
  echo "SDK-BUSY $(cat "$app/.lock.owner" 2>/dev/null || echo 'an unknown deploy')"
  flock -w "$wait" 9 || { echo "SDK-TIMEOUT $(cat "$app/.lock.owner" 2>/dev/null)"; exit 75; }
fi
printf '%s\n' "$info" > "$app/.lock.owner"
: > "$app/.lock.$token"
echo SDK-LOCKED
while [ -e "$app/.lock.$token" ]; do sleep 1; done
rm -f "$app/.lock.owner"
"""

_SWITCH = r"""
set -e
app="$1"; id="$2"
ln -sfn "bundles/$id" "$app/current.new"
mv -T "$app/current.new" "$app/current"
# keep the current bundle and the two before it
cd "$app/bundles"
ls -1t | tail -n +4 | while read -r old; do [ "$old" = "$id" ] || rm -rf "$old"; done
"""

_VENV = r"""
set -e
venv="$1"; wheels="$2"; site="$3"; deps="$4"; shift 4
if [ -x "$venv/bin/python" ] && [ -f "$venv/.complete" ]; then echo "venv cached"; exit 0; fi
tmp="$venv.tmp.$$"  # this process's own: two apps' first runs build the same venv at once
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv $site "$tmp"
"$tmp/bin/python" -m pip install --disable-pip-version-check --no-index $deps \
  --find-links "$wheels" "$@"
touch "$tmp/.complete"
if [ -x "$venv/bin/python" ] && [ -f "$venv/.complete" ]; then echo "venv cached"; exit 0; fi
rm -rf "$venv"
mv "$tmp" "$venv"
echo "venv created"
"""


def app_dir(facts: BoardFacts, app: str) -> str:
    return posixpath.join(facts.home, ".sdk", "apps", app)


_APP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")


def check_app_name(app: str, source: str = "--app") -> str:
    """An app name is one directory under ``~/.sdk/apps``: refuse '', '.', '..', slashes."""
    if not _APP_NAME.fullmatch(app) or app in (".", ".."):
        raise BundleError(
            f"invalid app name {app!r} (from {source})",
            expected="1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'",
            found=repr(app), fix="pass --app NAME",
        )
    return app


class AppLock:
    """The app's lock on the board (``flock`` on ``<app>/.lock``), held by a command that
    lives as long as the deploy: released by :meth:`release`, or by the board itself when
    the host goes away (the session kills that command's process group)."""

    def __init__(self, session: Session, app_path: str, *, wait: float, log: Log | None = None) -> None:
        import os
        import socket
        import threading
        import uuid

        self.session = session
        self.app_path = app_path
        self.token = uuid.uuid4().hex[:12]
        info = (f"pid {os.getpid()} on {socket.gethostname()} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
        self._state: queue.Queue[tuple[str, str]] = queue.Queue()
        self._done = False

        def on_line(line: str) -> None:
            for tag in ("SDK-BUSY", "SDK-TIMEOUT", "SDK-LOCKED"):
                if line.startswith(tag):
                    self._state.put((tag, line[len(tag):].strip()))

        def hold() -> None:
            try:
                session.run(["sh", "-c", _LOCK, "sh", app_path, str(max(0, int(wait))), info, self.token],
                            on_output=on_line, check=False)
            except BaseException as exc:
                self._state.put(("SDK-ERROR", str(exc)))
            self._state.put(("SDK-END", ""))

        self._thread = threading.Thread(target=hold, daemon=True, name="sdk-app-lock")
        self._thread.start()
        deadline = time.monotonic() + wait + 120
        while True:
            try:
                tag, rest = self._state.get(timeout=max(1.0, deadline - time.monotonic()))
            except queue.Empty:
                tag, rest = "SDK-TIMEOUT", "no answer"
            if tag == "SDK-LOCKED":
                return
            if tag == "SDK-BUSY":
                if log is not None:
                    log(f"board BUSY: app being deployed by {rest}; waiting up to {wait:g} s (--wait)")
                continue
            owner = rest or "another deploy"
            if tag == "SDK-TIMEOUT":
                raise BoardBusy(f"board BUSY: app {posixpath.basename(app_path)} on {session.board} "
                                f"being deployed by {owner}",
                                fix="wait for it to finish, or pass --wait S to wait longer")
            raise RemoteError(f"cannot lock app {posixpath.basename(app_path)} on board {session.board}",
                              found=owner)

    def release(self) -> None:
        if self._done:
            return
        self._done = True
        import contextlib

        with contextlib.suppress(Exception):
            self.session.run(["rm", "-f", "--", posixpath.join(self.app_path, f".lock.{self.token}")],
                             timeout=30, check=False)
            self._thread.join(timeout=10)


_FREE = r"""
import os, sys
p = sys.argv[1]
while not os.path.isdir(p):
    p = os.path.dirname(p)
st = os.statvfs(p)
sys.stdout.write("%d %s" % (st.f_bavail * st.f_frsize, p))
"""


def free_space(session: Session, path: str) -> tuple[int, str]:
    """Free bytes on the filesystem that holds ``path`` (or its nearest existing parent)."""
    res = session.run(["python3", "-c", _FREE, session.resolve(path)], timeout=60)
    free, _, where = res.stdout.strip().partition(" ")
    return int(free), where


def remove_staging(session: Session, app_path: str) -> None:
    """Drop what an aborted push left (staging and its partial files)."""
    session.run(["rm", "-rf", "--", posixpath.join(app_path, "staging")], timeout=60, check=False)


def push(session: Session, bundle: Bundle, facts: BoardFacts, app: str,
         progress: Callable[[int, int], None] | None = None) -> Pushed:
    base = app_dir(facts, app)
    session.run(["sh", "-c", _STAGE, "sh", base, bundle.id], timeout=300)
    staging = posixpath.join(base, "staging")
    stats = sync_dir(session, bundle.root, staging, progress=progress)
    res = session.run(
        ["env", f"PYTHONPATH={staging}/runtime", "python3", "-m", "sdk.device.runner", "verify",
         staging], timeout=600, check=False)
    if res.returncode != 0:
        raise BundleError(
            f"bundle failed its sha256 check on board '{session.board}'",
            expected="every file as in manifest.json",
            found=(res.stderr.strip().splitlines() or ["?"])[0],
            fix="re-run the deploy; if it repeats, check the board's disk",
        )
    session.run(["sh", "-c", _COMMIT_STAGING, "sh", base, bundle.id], timeout=120)
    return Pushed(base, posixpath.join(base, "bundles", bundle.id), stats, len(bundle.manifest.models))


def venv_dir(bundle: Bundle, facts: BoardFacts) -> str:
    return posixpath.join(facts.home, ".sdk", "venvs", bundle.manifest.wheels["set_sha256"][:16])


def ensure_venv(session: Session, bundle: Bundle, pushed: Pushed, facts: BoardFacts,
                log: Log | None = None, timeout: float = 1200) -> str:
    """Create (once per wheel set) the offline venv; returns its python."""
    from sdk.bundle.wheels import installs_without_deps

    venv = venv_dir(bundle, facts)
    reqs = bundle.manifest.wheels["requirements"]
    # armv7 has no numpy wheel: there the venv sees the board's Debian python3-numpy
    no_deps = installs_without_deps(bundle.manifest.board_profile["arch"])
    site = "--system-site-packages" if no_deps else ""
    deps = "--no-deps" if no_deps else ""
    session.run(
        ["sh", "-c", _VENV, "sh", venv, posixpath.join(pushed.bundle_dir, "wheels"), site, deps, *reqs],
        timeout=timeout, on_output=log,
    )
    return posixpath.join(venv, "bin", "python")


def _board_module(session: Session, pushed: Pushed, python: str, module: str, args: list[str], out: str,
                  record: type[T], what: str, log: Log | None, timeout: float | None) -> T:
    """Run ``python -m module`` from the bundle's runtime on the board; its JSON ``out`` as ``record``.
    Exit codes other than OK and FAILED (a model failed its check) are the tool's own failure."""
    argv = ["env", f"PYTHONPATH={pushed.bundle_dir}/runtime", "OMP_WAIT_POLICY=passive",
            python, "-m", module, *args]
    res = session.run(argv, timeout=timeout, on_output=log, check=False)
    if res.returncode not in (ExitCode.OK, ExitCode.FAILED):
        last = (res.stderr.strip().splitlines() or [f"exit code {res.returncode}"])[-1]
        raise RemoteError(f"the {what} failed on board '{session.board}': {last}")
    with tempfile.TemporaryDirectory() as td:
        local = Path(td) / posixpath.basename(out)
        session.download(out, local)
        return from_json(record, local.read_text())


def run_on_board(session: Session, pushed: Pushed, python: str, *, runs: int, warmup: int,
                 threads: int, cpus: list[int], model: str | None = None,
                 log: Log | None = None, timeout: float = 3600) -> BoardResult:
    """Run the bundle's runner; it gives each model variant ``timeout`` seconds, and the whole
    command is killed (its process group) if it is not done by then plus a margin."""
    n_models = 1 if model else max(1, pushed.models)
    out = posixpath.join(pushed.app_dir, "result.json")
    args = ["run", pushed.bundle_dir, "--out", out, "--runs", str(runs), "--warmup", str(warmup),
            "--threads", str(threads), "--cpus", ",".join(map(str, cpus)), "--timeout", f"{timeout:g}"]
    if model:
        args += ["--model", model]
    return _board_module(session, pushed, python, "sdk.device.runner", args, out, BoardResult, "runner", log,
                         timeout * n_models + 60)


def activate(session: Session, pushed: Pushed, bundle_id: str) -> None:
    session.run(["sh", "-c", _SWITCH, "sh", pushed.app_dir, bundle_id], timeout=120)


def run_bench(session: Session, pushed: Pushed, python: str, plan: BenchPlan, *,
              log: Log | None = None) -> BenchRun:
    """Run the on-board bench (:mod:`sdk.device.bench`) over ``plan``; its every result. The
    bench gives each configuration ``plan.timeout`` seconds, and the whole command is killed
    (its process group) if it is not done by then plus a margin."""
    plan_file = posixpath.join(pushed.app_dir, "bench-plan.json")
    out = posixpath.join(pushed.app_dir, "bench-run.json")
    with tempfile.TemporaryDirectory() as td:
        local = Path(td) / "plan.json"
        local.write_text(to_json(plan))
        session.upload(local, plan_file)
    args = ["run", pushed.bundle_dir, "--plan", plan_file, "--out", out]
    timeout = plan.timeout * max(1, len(plan.configs)) + 60 if plan.timeout > 0 else None
    return _board_module(session, pushed, python, "sdk.device.bench", args, out, BenchRun, "bench", log,
                         timeout)
