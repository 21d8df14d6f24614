"""What every record module shares: the runner's exit codes, the agreement floors, the one
sha256 of a file and the string form of a model variant. Standard library only."""

from __future__ import annotations

import enum
import hashlib
from pathlib import Path


class ExitCode(enum.IntEnum):
    """The on-board runner's exit codes, read by the host."""

    OK = 0
    USAGE = 2  # argparse's own code for a bad command line
    CORRUPT = 3  # a file of the bundle is missing or fails its sha256
    FAILED = 4  # the bundle ran, and a model failed its golden check


# The one table of agreement floors: the cosine a model's outputs must reach against their
# golden outputs. fp32 agrees with onnxruntime to 0.999; fp16 and int8 kernels round
# differently on x86 and ARM, so there (and for int8 on the board against the host's own
# int8 outputs) 0.99. An engine's capability record may override a value.
AGREEMENT_FLOORS: dict[str, float] = {"fp32": 0.999, "fp16": 0.99, "int8": 0.99}


def sha256_file(path: Path) -> str:
    """The file's sha256, read in 1 MiB chunks (the one implementation host and board share)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def variant_id(engine: str, precision: str) -> str:
    """The string form of a model variant, for directory names: ``ncnn-int8``."""
    return f"{engine}-{precision}"

