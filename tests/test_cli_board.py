"""`sdk board trust/list` against a real sshd on loopback."""

from __future__ import annotations

import json
from dataclasses import replace

from cli_util import run_cli

from sdk.boards import BoardEntry, Inventory


def test_trust_shows_fingerprint_and_records_key(host_sshd: BoardEntry) -> None:
    inv = Inventory()
    inv.add(replace(host_sshd, name="lab", host_key=None))
    inv.save()
    # not a terminal and no --yes: refused, nothing recorded
    r = run_cli("board", "trust", "lab")
    assert r.returncode == 1 and "--yes" in r.stderr
    assert Inventory().get("lab").host_key is None
    r = run_cli("board", "trust", "lab", "--yes")
    assert r.returncode == 0, r.stderr
    assert "SHA256:" in r.stdout
    assert Inventory().get("lab").host_key == host_sshd.host_key
    r = run_cli("board", "list", "--json")
    (b,) = json.loads(r.stdout)["boards"]
    assert b["reachable"] is True and b["host_key"] == host_sshd.host_key
