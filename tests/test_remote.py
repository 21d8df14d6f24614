"""One suite for both sessions (local and SSH against the host's sshd), then SSH-only tests."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _fix_sshd import keygen

from sdk.boards import BoardEntry
from sdk.errors import HostKeyError, RemoteError
from sdk.remote import (
    BoardFacts,
    HostKey,
    LocalSession,
    Session,
    SSHSession,
    SyncStats,
    fetch_host_key,
    is_reachable,
    open_session,
    probe,
    sync_dir,
)


@pytest.fixture(params=["local", "ssh"])
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    if request.param == "local":
        s: Session = LocalSession(root=tmp_path / "home")
        (tmp_path / "home").mkdir()
    else:
        entry = request.getfixturevalue("host_sshd")
        s = open_session(entry)
    with s:
        yield s


@pytest.fixture
def rdir(tmp_path: Path) -> str:
    """A "remote" directory: both sessions run on this machine, so an absolute tmp path."""
    d = tmp_path / "remote"
    d.mkdir()
    return d.as_posix()


# --------------------------------------------------------------------------- run


def test_session_protocol(session: Session) -> None:
    assert isinstance(session, Session)
    assert session.board in ("local", "hostssh")
    assert session.resolve("~/a/b").endswith("/a/b")
    assert session.resolve("~") == session.resolve("~/")
    assert session.resolve("/x/../y") == "/y"


@pytest.mark.parametrize(
    "arg",
    [
        "a b; echo pwned $(id)",
        "it's \"quoted\" `id` && rm -rf /nonexistent | cat",
        "$HOME * ? ~ \\n {a,b} > /tmp/x",
        "",
        "ünï código",
    ],
)
def test_run_quotes_every_argument(session: Session, arg: str) -> None:
    res = session.run(["printf", "%s", arg])
    assert res.stdout == arg
    assert res.returncode == 0
    assert res.argv == ["printf", "%s", arg]
    assert res.seconds >= 0


def test_run_many_args_keep_boundaries(session: Session) -> None:
    args = ["a b", "", "c;d", "'", '"']
    res = session.run(["printf", "<%s>", *args])
    assert res.stdout == "".join(f"<{a}>" for a in args)


def test_run_cwd_and_env(session: Session, rdir: str) -> None:
    res = session.run(["pwd"], cwd=rdir)
    assert res.stdout.strip() == os.path.realpath(rdir)
    res = session.run(
        ["sh", "-c", 'printf "%s|%s" "$SDK_A" "$SDK_B"'],
        env={"SDK_A": "x y $(id)", "SDK_B": "'q'"},
    )
    assert res.stdout == "x y $(id)|'q'"
    with pytest.raises(RemoteError, match="environment variable"):
        session.run(["true"], env={"BAD NAME": "1"})


def test_run_streams_lines(session: Session) -> None:
    seen: list[tuple[float, str]] = []
    t0 = time.monotonic()
    res = session.run(
        ["sh", "-c", "echo one; sleep 0.6; echo two >&2; echo three"],
        on_output=lambda line: seen.append((time.monotonic() - t0, line)),
    )
    assert sorted(line for _, line in seen) == ["one", "three", "two"]
    at = {line: t for t, line in seen}
    # streamed: "one" arrived well before "three", which the board printed 0.6 s later
    # (relative, so a loaded host does not matter; buffered output arrives all at once)
    assert at["three"] - at["one"] > 0.3
    assert res.stdout == "one\nthree\n"
    assert res.stderr == "two\n"


def test_nonzero_exit_raises(session: Session) -> None:
    with pytest.raises(RemoteError) as info:
        session.run(["sh", "-c", "echo first >&2; echo 'the real reason' >&2; exit 3"])
    msg = str(info.value)
    assert "exit code 3" in msg and "the real reason" in msg and session.board in msg
    res = session.run(["sh", "-c", "exit 4"], check=False)
    assert res.returncode == 4


def test_killed_by_signal_raises(session: Session) -> None:
    res = session.run(["sh", "-c", "echo before; kill -9 $$"], check=False)
    assert res.returncode < 0 or res.returncode == 128 + 9
    assert res.stdout == "before\n"
    with pytest.raises(RemoteError, match="exit code"):
        session.run(["sh", "-c", "kill -9 $$"])


def test_missing_command_raises(session: Session) -> None:
    with pytest.raises(RemoteError, match="exit code 127"):
        session.run(["no-such-command-xyz"])


def test_timeout_kills_and_raises(session: Session, rdir: str) -> None:
    marker = f"{rdir}/marker"
    t0 = time.monotonic()
    with pytest.raises(RemoteError) as info:
        session.run(["sh", "-c", f"sleep 1.5 && touch {marker}"], timeout=0.3)
    assert time.monotonic() - t0 < 1.4
    msg = str(info.value)
    assert "timed out" in msg and session.board in msg and "sleep 1.5" in msg
    time.sleep(1.8)
    assert not os.path.exists(marker)  # the command was killed, not just abandoned
    assert session.run(["true"]).returncode == 0  # the session still works


# --------------------------------------------------------------------------- files


def test_upload_download_round_trip(session: Session, tmp_path: Path, rdir: str) -> None:
    data = os.urandom(300_000) + b"\x00\n\r\xff"
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    session.upload(src, f"{rdir}/copy.bin")
    assert Path(rdir, "copy.bin").read_bytes() == data
    assert not [n for n in os.listdir(rdir) if ".tmp-" in n]  # temp file renamed away
    back = tmp_path / "back.bin"
    session.download(f"{rdir}/copy.bin", back)
    assert back.read_bytes() == data
    # overwrite in place
    src.write_bytes(b"new")
    session.upload(src, f"{rdir}/copy.bin")
    assert Path(rdir, "copy.bin").read_bytes() == b"new"
    with pytest.raises(RemoteError, match=session.board):
        session.download(f"{rdir}/absent", tmp_path / "x")


def test_listdir_exists_remove_mkdir(session: Session, tmp_path: Path, rdir: str) -> None:
    src = tmp_path / "f"
    src.write_text("x")
    session.mkdir(f"{rdir}/a/b/c")
    session.mkdir(f"{rdir}/a/b/c")  # idempotent
    session.upload(src, f"{rdir}/a/b/c/f.txt")
    session.upload(src, f"{rdir}/top.txt")
    assert session.listdir(rdir) == ["a", "top.txt"]
    assert session.exists(f"{rdir}/a/b/c/f.txt")
    assert not session.exists(f"{rdir}/nope")
    session.remove(f"{rdir}/top.txt")
    assert not session.exists(f"{rdir}/top.txt")
    with pytest.raises(RemoteError):
        session.remove(f"{rdir}/a")  # not empty, not recursive
    session.remove(f"{rdir}/a", recursive=True)
    assert session.listdir(rdir) == []
    with pytest.raises(RemoteError):
        session.listdir(f"{rdir}/gone")


# --------------------------------------------------------------------------- sync


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _remote_files(rdir: str) -> dict[str, bytes]:
    out = {}
    for base, _, names in os.walk(rdir):
        for n in names:
            p = Path(base, n)
            out[p.relative_to(rdir).as_posix()] = p.read_bytes()
    return out


def test_sync(session: Session, tmp_path: Path, rdir: str) -> None:
    local = tmp_path / "bundle"
    files = {
        "manifest.json": b"{}",
        "models/a.bin": os.urandom(5000),
        "models/b.param": b"7767517\n",
        "bin/run.sh": b"#!/bin/sh\necho hi\n",
        "deep/x/y/z.txt": b"z",
    }
    _tree(local, files)
    (local / "bin/run.sh").chmod(0o755)
    target = f"{rdir}/bundle"
    # something stale already there: a file and a whole directory
    Path(target, "old/sub").mkdir(parents=True)
    Path(target, "old/sub/stale.txt").write_text("s")
    Path(target, "stray.txt").write_text("s")

    calls: list[tuple[int, int]] = []
    st = sync_dir(session, local, target, progress=lambda done, total: calls.append((done, total)))
    assert isinstance(st, SyncStats)
    total_bytes = sum(len(v) for v in files.values())
    assert st == SyncStats(
        files_total=5, files_sent=5, bytes_sent=total_bytes, files_skipped=0, files_deleted=2
    )
    assert calls[-1] == (total_bytes, total_bytes)
    assert _remote_files(target) == files
    assert os.access(Path(target, "bin/run.sh"), os.X_OK)
    assert not os.access(Path(target, "manifest.json"), os.X_OK)
    assert session.run([f"{target}/bin/run.sh"]).stdout == "hi\n"

    st = sync_dir(session, local, target)
    assert (st.files_sent, st.bytes_sent, st.files_skipped, st.files_deleted) == (0, 0, 5, 0)

    (local / "models/b.param").write_bytes(b"7767517\nchanged\n")
    st = sync_dir(session, local, target)
    assert (st.files_sent, st.bytes_sent) == (1, len(b"7767517\nchanged\n"))
    assert Path(target, "models/b.param").read_bytes() == b"7767517\nchanged\n"

    (local / "deep/x/y/z.txt").unlink()
    (local / "models/a.bin").unlink()
    st = sync_dir(session, local, target)
    assert (st.files_sent, st.files_deleted) == (0, 2)
    assert sorted(_remote_files(target)) == ["bin/run.sh", "manifest.json", "models/b.param"]
    assert not Path(target, "deep").exists()

    # only the exec bit changes: the file is sent again with its new mode
    (local / "manifest.json").chmod(0o755)
    st = sync_dir(session, local, target)
    assert st.files_sent == 1
    assert os.access(Path(target, "manifest.json"), os.X_OK)


def test_sync_into_missing_dir_and_home_path(session: Session, tmp_path: Path) -> None:
    local = tmp_path / "l"
    _tree(local, {"a.txt": b"a"})
    name = f"sdk-sync-test-{os.getpid()}-{time.monotonic_ns()}"
    try:
        st = sync_dir(session, local, f"~/{name}/nested")
        assert st.files_sent == 1
        assert session.exists(f"~/{name}/nested/a.txt")
    finally:
        if session.exists(f"~/{name}"):
            session.remove(f"~/{name}", recursive=True)


def test_probe(session: Session) -> None:
    facts = probe(session)
    assert isinstance(facts, BoardFacts)
    assert facts.machine == os.uname().machine == "x86_64"
    assert facts.python.startswith("3.")
    assert facts.free_bytes > 0
    assert facts.home == session.resolve("~")


# --------------------------------------------------------------------------- SSH only


def test_open_session_is_ssh(host_sshd: BoardEntry) -> None:
    with open_session(host_sshd) as s:
        assert isinstance(s, SSHSession)
        assert s.resolve("~") == os.path.expanduser("~")


def test_unknown_host_key(host_sshd: BoardEntry) -> None:
    entry = dataclasses.replace(host_sshd, host_key=None)
    with pytest.raises(HostKeyError) as info:
        open_session(entry)
    msg = str(info.value)
    assert "sdk board trust hostssh" in msg and "not trusted" in msg
    assert fetch_host_key(entry.host, entry.port).fingerprint in msg


def test_changed_host_key(host_sshd: BoardEntry, tmp_path: Path) -> None:
    other = keygen(tmp_path / "other")
    pub = Path(f"{other}.pub").read_text().split()
    entry = dataclasses.replace(host_sshd, host_key=f"{pub[0]} {pub[1]}")
    t0 = time.monotonic()
    with pytest.raises(HostKeyError) as info:
        open_session(entry, backoff=5.0)
    assert time.monotonic() - t0 < 4  # no retry
    msg = str(info.value)
    assert "changed" in msg.lower() and "sdk board trust hostssh" in msg
    assert HostKey(pub[0], pub[1]).fingerprint in msg
    assert fetch_host_key(entry.host, entry.port).fingerprint in msg


def test_changed_host_key_type_is_also_changed(host_sshd: BoardEntry, tmp_path: Path) -> None:
    other = keygen(tmp_path / "rsa", "rsa")
    pub = Path(f"{other}.pub").read_text().split()
    entry = dataclasses.replace(host_sshd, host_key=f"{pub[0]} {pub[1]}")
    with pytest.raises(HostKeyError, match="CHANGED"):
        open_session(entry)


def test_closed_port_retries_then_names_everything(
    host_sshd: BoardEntry, closed_port: int
) -> None:
    entry = dataclasses.replace(host_sshd, port=closed_port)
    t0 = time.monotonic()
    with pytest.raises(RemoteError) as info:
        open_session(entry, attempts=3, backoff=0.05, timeout=2)
    elapsed = time.monotonic() - t0
    msg = str(info.value)
    assert "hostssh" in msg and f"127.0.0.1:{closed_port}" in msg and "3 attempts" in msg
    assert elapsed >= 0.05 + 0.1  # two backoffs: 0.05 then 0.1
    assert not isinstance(info.value, HostKeyError)


def test_no_retry_on_auth_failure(
    host_sshd: BoardEntry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sdk.remote.connect as ssh

    wrong = keygen(tmp_path / "wrong")
    entry = dataclasses.replace(host_sshd, key=str(wrong))
    connects = []
    real = ssh._connect_socket

    def counting(host: str, port: int, timeout: float):  # type: ignore[no-untyped-def]
        connects.append(port)
        return real(host, port, timeout)

    monkeypatch.setattr(ssh, "_connect_socket", counting)
    t0 = time.monotonic()
    with pytest.raises(RemoteError) as info:
        open_session(entry, attempts=3, backoff=5.0)
    assert time.monotonic() - t0 < 4
    assert len(connects) == 1
    assert "authentication failed" in str(info.value)
    assert not isinstance(info.value, HostKeyError)


def test_pid_line_survives_login_noise() -> None:
    from sdk.remote.ssh import _split_pid

    assert _split_pid(b"SDK-PID:4") == (b"", None)
    assert _split_pid(b"motd\nSDK-PID:42\nout\nmore") == (b"out\nmore", 42)
    assert _split_pid(b"SDK-PID:x\n") == (b"", None)


def test_missing_key_file(host_sshd: BoardEntry, tmp_path: Path) -> None:
    entry = dataclasses.replace(host_sshd, key=str(tmp_path / "nope"))
    with pytest.raises(RemoteError, match="private key"):
        open_session(entry)


def test_fetch_host_key_matches_ssh_keygen(host_sshd: BoardEntry) -> None:
    key = fetch_host_key(host_sshd.host, host_sshd.port)
    assert key.line == host_sshd.host_key
    out = subprocess.run(
        ["ssh-keygen", "-lf", host_sshd.extra["host_pub"]],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert key.fingerprint == out[1]
    assert key.fingerprint.startswith("SHA256:")


def test_fetch_host_key_closed_port(closed_port: int) -> None:
    with pytest.raises(RemoteError, match=str(closed_port)):
        fetch_host_key("127.0.0.1", closed_port, timeout=1)


def test_is_reachable(host_sshd: BoardEntry, closed_port: int) -> None:
    assert is_reachable(host_sshd.host, host_sshd.port)
    assert not is_reachable("127.0.0.1", closed_port, timeout=0.5)


def test_paramiko_not_imported_by_package() -> None:
    code = "import sys, sdk.remote; assert 'paramiko' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
