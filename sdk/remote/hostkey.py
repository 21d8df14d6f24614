"""SSH host keys: the trust the SDK keeps for each board, and the one check against it.

A board's host key is trusted only once a user said so (``sdk board trust NAME``, which
shows the fingerprint and stores the key in the inventory). A connection compares the key
the board presents with that stored key, byte for byte, and refuses an unknown or a changed
key. Nothing is ever added automatically.
"""

from __future__ import annotations

import base64 as b64
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdk.boards import BoardEntry
from sdk.errors import HostKeyError

if TYPE_CHECKING:
    import paramiko


@dataclass(frozen=True)
class HostKey:
    """An SSH host key as ``<type> <base64>`` (the known_hosts form)."""

    type: str
    base64: str

    @property
    def blob(self) -> bytes:
        return b64.b64decode(self.base64)

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` exactly as ``ssh-keygen -l`` prints it."""
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + b64.b64encode(digest).decode().rstrip("=")

    @property
    def line(self) -> str:
        return f"{self.type} {self.base64}"

    @classmethod
    def parse(cls, line: str) -> HostKey:
        parts = line.split()
        if len(parts) < 2:
            raise HostKeyError(
                "stored host key is malformed",
                expected="'<type> <base64>'",
                found=repr(line[:40]),
                fix="run 'sdk board trust NAME' again",
            )
        return cls(parts[0], parts[1])

    @classmethod
    def from_pkey(cls, key: paramiko.PKey) -> HostKey:
        return cls(key.get_name(), key.get_base64())


def check_host_key(entry: BoardEntry, presented: HostKey) -> None:
    """Refuse a host key the inventory does not hold for ``entry``, or one that changed."""
    where = f"{entry.host}:{entry.port}"
    if entry.host_key is None:
        raise HostKeyError(
            f"host key of board {entry.name} ({where}) is not trusted yet",
            found=f"{presented.type} {presented.fingerprint}",
            fix=f"run 'sdk board trust {entry.name}' and check that fingerprint",
        )
    known = HostKey.parse(entry.host_key)
    if known.type != presented.type or known.blob != presented.blob:
        raise HostKeyError(
            f"host key of board {entry.name} ({where}) has CHANGED: it is another machine, "
            "a reinstalled board, or someone in between",
            expected=f"{known.type} {known.fingerprint}",
            found=f"{presented.type} {presented.fingerprint}",
            fix=f"only if the board was reinstalled, check the new fingerprint on it and "
            f"run 'sdk board trust {entry.name}'",
        )
