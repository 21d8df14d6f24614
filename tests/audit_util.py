"""Watching a child Python: no network, no pip, never MNN.tools (an audit hook installed
through sitecustomize, so the engines' own child processes are watched too)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_AUDIT = textwrap.dedent(
    """
    import os, sys

    _LOG = os.environ["SDK_AUDIT_LOG"]

    def _write(line):
        with open(_LOG, "a") as f:
            f.write(line.replace("\\n", " ") + "\\n")

    def _hook(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto",
                     "socket.sendmsg", "urllib.Request", "http.client.connect"):
            _write(f"{os.getpid()} NET {event} {args!r}")
        elif event in ("subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn",
                       "os.system"):
            text = repr(args)
            _write(f"{os.getpid()} PROC {event} {'PIP ' if 'pip' in text else ''}{text}")
        elif event == "import" and args and str(args[0]).startswith("MNN.tools"):
            _write(f"{os.getpid()} IMPORT {args[0]}")

    sys.addaudithook(_hook)
    """
)


def site_state() -> tuple[list[str], str]:
    import site

    entries: list[str] = []
    for d in {*site.getsitepackages(), site.getusersitepackages()}:
        if os.path.isdir(d):
            entries += sorted(f"{d}/{n}" for n in os.listdir(d) if n != "__pycache__")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return sorted(entries), pip.stdout


def audited_env(tmp_path: Path, log: Path) -> dict[str, str]:
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(_AUDIT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(hook_dir), str(REPO)])
    env["SDK_AUDIT_LOG"] = str(log)
    env["PIP_NO_INDEX"] = "1"
    return env



def run_audited(
    code: str, tmp_path: Path, *, timeout: float
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``code`` in an audited child Python; returns the process and the audit events."""
    log = tmp_path / "audit.log"
    log.write_text("")
    proc = subprocess.run([sys.executable, "-c", code], env=audited_env(tmp_path, log),
                          capture_output=True, text=True, timeout=timeout)
    return proc, log.read_text().splitlines()


def assert_offline(events: list[str], *, child: str) -> None:
    """No network, no pip, no MNN.tools; and the tool's child process (``child`` in its
    command line) was started, so the hook really watched it."""
    assert not [e for e in events if " NET " in e], events
    assert not [e for e in events if "PIP " in e], events
    assert not [e for e in events if " IMPORT " in e], events
    assert any(child in e for e in events if " PROC " in e), events
