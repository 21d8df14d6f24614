"""Reaching boards: one Session interface, a local and an SSH implementation, and what is
done to a board through any of them.

    base.py     the Session protocol and what both implementations share
    local.py    this machine (subprocess)
    ssh.py      paramiko; connecting with bounded retries
    hostkey.py  the host keys the inventory trusts, and the one check against them
    sync.py     mirror a local directory on the board (only changed files are sent)
    board.py    board operations: probe, check, push, install the runtime, run, activate

Importing this package is cheap: paramiko is imported only when a session is opened.
"""

from __future__ import annotations

from sdk.remote.base import RunResult, Session
from sdk.remote.board import BoardFacts, probe
from sdk.remote.connect import fetch_host_key, is_reachable, open_session
from sdk.remote.hostkey import HostKey
from sdk.remote.local import LocalSession
from sdk.remote.ssh import SSHSession
from sdk.remote.sync import SyncStats, sync_dir

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
    "sync_dir",
]
