"""A local labgrid coordinator for trying board farms and for the tests.

    python -m sdk.tools.labgrid_lab [--port 20408] [--dir DIR]

starts ``labgrid-coordinator`` on 127.0.0.1 (its state, places.yaml and resources.yaml, in
DIR), prints ``LG_COORDINATOR=127.0.0.1:PORT`` and runs until Ctrl-C. Then export emulated
boards into it (``sdk board emulate rk3399 --name a --labgrid 127.0.0.1:PORT``) and run
``sdk deploy MODEL --fleet 127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

READY_S = 30.0


def start_coordinator(state_dir: Path, port: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    """``labgrid-coordinator`` on 127.0.0.1:``port`` (0: a free one); the process and address."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / "coordinator.log"
    with open(log, "ab") as out:
        argv = [sys.executable, "-m", "labgrid.remote.coordinator", "-l", f"127.0.0.1:{port}"]
        proc = subprocess.Popen(argv, cwd=state_dir, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        found = re.findall(rb"listening on 127\.0\.0\.1:(\d+)", log.read_bytes())
        if found:
            return proc, f"127.0.0.1:{int(found[-1])}"
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop_coordinator(proc)
    raise RuntimeError(f"labgrid-coordinator did not start: see {log}")


def stop_coordinator(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the coordinator shuts down gracefully), SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
        return
    proc.kill()
    proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sdk.tools.labgrid_lab", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--dir", type=Path, default=Path("labgrid-lab"), help="the coordinator's state directory")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill stops it as Ctrl-C does
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with '&'
    proc, address = start_coordinator(args.dir.resolve(), args.port)
    print(f"LG_COORDINATOR={address}", flush=True)
    print(f"labgrid coordinator running (pid {proc.pid}, state in {args.dir}); Ctrl-C or kill stops it",
          flush=True)
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(Exception):
            stop_coordinator(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
