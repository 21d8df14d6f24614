"""Reaching boards: one Session interface, a local and an SSH implementation, and sync.

Importing this package is cheap: paramiko is imported only when a session is opened.
"""

from __future__ import annotations

from sdk.remote.base import RunResult, Session
from sdk.remote.local import LocalSession
from sdk.remote.ssh import (
    BoardFacts,
    HostKey,
    SSHSession,
    fetch_host_key,
    is_reachable,
    open_session,
    probe,
)
from sdk.remote.sync import SyncStats

__all__ = [
    "BoardFacts",
    "HostKey",
    "LocalSession",
    "RunResult",
    "SSHSession",
    "Session",
    "SyncStats",
    "fetch_host_key",
    "is_reachable",
    "open_session",
    "probe",
]
