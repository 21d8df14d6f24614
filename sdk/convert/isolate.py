"""Convert and validate one engine in a child Python process.

Engines are C++: a converted model can divide by zero or segfault while it runs, and their
libraries print straight to fd 1/2 ("The device supports: i8sdot:0, ...", "MNN use high
precision"). In a child, a native crash becomes one line naming the engine, the stage and
the signal, the other engine's result survives, and the chatter lands in a log file beside
the engine's output (scanned for a reason line) instead of the user's terminal.

The child is ``python -m sdk.convert.isolate JOB RESULT``: JOB is a pickle of the work, RESULT
the pickle of its :class:`~sdk.convert.ConversionResult`. It writes the stage it is in to
``JOB.stage`` so the parent can say what crashed.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

# converting (pnnx, MNN's converter) has its own child and timeout; this bounds the whole job
CHILD_TIMEOUT_S = 900

STAGES = {"convert": "converting the model", "load": "loading the converted model",
          "run": "running the converted model", "compare": "comparing the outputs"}


def signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def run_isolated(job: dict[str, Any], workdir: Path, timeout: float = CHILD_TIMEOUT_S) -> Any:
    """Run ``job`` (the arguments of :func:`sdk.convert._convert_one`) in a child; its
    :class:`ConversionResult`. A crash or a timeout is a failed result with a one-line error."""
    from sdk.convert import ConversionResult

    engine = job["engine"]
    if engine == "ncnn":  # fetch pnnx here, not in the child, so its progress reaches the user
        from sdk.engines.ncnn.convert import pnnx_binary
        from sdk.errors import SdkError

        with contextlib.suppress(SdkError):  # the child reports it as this engine's failure
            pnnx_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    job_file = workdir / ".job.pkl"
    result_file = workdir / ".result.pkl"
    stage_file = workdir / ".job.pkl.stage"
    log_file = workdir / "validate.log"
    for f in (result_file, stage_file):
        f.unlink(missing_ok=True)
    job_file.write_bytes(pickle.dumps(job))
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    error: str | None = None
    with open(log_file, "wb") as log:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "sdk.convert.isolate", str(job_file), str(result_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                timeout=timeout,
            )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
    stage = stage_file.read_text().strip() if stage_file.is_file() else "convert"
    what = STAGES.get(stage, stage)
    if rc is None:
        error = f"{engine} did not finish {what} in {timeout:.0f}s"
    elif rc < 0:
        error = f"{engine} crashed ({signal_name(rc)}) {what}"
    elif not result_file.is_file():
        error = f"{engine} failed {what} (exit code {rc}): {last_log_line(log_file)}"
    if error is not None:
        return ConversionResult(engine=engine, ok=False, model=None, error=error)
    result = pickle.loads(result_file.read_bytes())
    result_file.unlink(missing_ok=True)
    job_file.unlink(missing_ok=True)
    stage_file.unlink(missing_ok=True)
    return result


def last_log_line(log_file: Path) -> str:
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return "(no output)"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()
             and not ln.startswith(("The device supports", "MNN use ", "Traceback", "  File "))]
    return " ".join(lines[-1].split())[:300] if lines else "(no output)"


def _main(argv: list[str]) -> int:
    job_file, result_file = Path(argv[0]), Path(argv[1])
    stage_file = Path(str(job_file) + ".stage")
    job = pickle.loads(job_file.read_bytes())

    def stage(name: str) -> None:
        stage_file.write_text(name)
        sys.stdout.flush()
        sys.stderr.flush()

    from sdk.convert import _convert_one

    result = _convert_one(**job, on_stage=stage)
    tmp = result_file.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(result))
    tmp.replace(result_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
