"""Make a remote directory hold exactly a local directory's files.

Written once against the :class:`~sdk.remote.base.Session` primitives, so the local and the
SSH session sync the same way:

1. hash the remote side with ONE command: a small script run by the board's ``python3``
   prints ``{"files": {relpath: [sha256, executable]}, "dirs": [relpath, ...]}``;
2. hash the local side the same way;
3. delete remote files and directories that are not present locally;
4. upload (atomically, one file at a time) every file that is missing remotely or whose
   sha256 or executable bit differs.

Only files are mirrored: directories exist remotely where files need them, and remote
directories that hold no local file are removed.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sdk.errors import ConnectionLost, RemoteError, SdkError
from sdk.records import sha256_file
from sdk.remote.base import Session

# Runs on the board: standard library only, Python 3.5+ syntax (no f-strings).
REMOTE_HASH_SCRIPT = r"""
import hashlib, json, os, stat, sys
root = sys.argv[1]
files = {}
dirs = []
kind = "missing"
if os.path.isdir(root) and not os.path.islink(root):
    kind = "dir"
    for base, dnames, fnames in os.walk(root):
        rel = os.path.relpath(base, root)
        for d in list(dnames):
            full = os.path.join(base, d)
            r = d if rel == "." else rel + "/" + d
            if os.path.islink(full):
                files[r] = ["symlink", False]
                dnames.remove(d)
            else:
                dirs.append(r)
        for f in fnames:
            full = os.path.join(base, f)
            r = f if rel == "." else rel + "/" + f
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode):
                files[r] = ["special", False]
                continue
            h = hashlib.sha256()
            with open(full, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            files[r] = [h.hexdigest(), bool(st.st_mode & 0o100)]
elif os.path.lexists(root):
    kind = "file"
sys.stdout.write(json.dumps({"kind": kind, "files": files, "dirs": dirs}))
"""


@dataclass
class SyncStats:
    """What one sync did."""

    files_total: int = 0
    files_sent: int = 0
    bytes_sent: int = 0
    files_skipped: int = 0
    files_deleted: int = 0


@dataclass(frozen=True)
class _LocalFile:
    path: Path
    sha256: str
    executable: bool
    size: int


def _scan_local(local_dir: Path) -> tuple[dict[str, _LocalFile], set[str]]:
    """Local files, and the directories that hold them (empty ones are not synced)."""
    files: dict[str, _LocalFile] = {}
    for base, _, fnames in os.walk(local_dir, followlinks=True):
        rel = Path(base).relative_to(local_dir).as_posix()
        for f in fnames:
            path = Path(base) / f
            st = path.stat()  # follows symlinks: the board gets the content
            if not stat.S_ISREG(st.st_mode):
                continue
            r = f if rel == "." else f"{rel}/{f}"
            files[r] = _LocalFile(path, sha256_file(path), bool(st.st_mode & 0o100), st.st_size)
    dirs: set[str] = set()
    for r in files:
        parent = posixpath.dirname(r)
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    return files, dirs


def _scan_remote(session: Session, root: str) -> tuple[str, dict[str, list[object]], set[str]]:
    res = session.run(["python3", "-c", REMOTE_HASH_SCRIPT, root], timeout=600)
    try:
        data = json.loads(res.stdout)
        return str(data["kind"]), dict(data["files"]), set(data["dirs"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RemoteError(
            f"cannot read the file list of {root} on board {session.board}",
            expected="JSON from the board's python3",
            found=res.stdout[:80] or "(nothing)",
        ) from exc


def partial_name(name: str, key: str | None) -> str:
    """The partial file an upload of ``name`` with sha256 ``key`` writes to (see upload)."""
    return f".{name}.part-{(key or '')[:16]}"


def sync_dir(
    session: Session,
    local_dir: Path,
    remote_dir: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SyncStats:
    """Make ``remote_dir`` on the board hold exactly the files of ``local_dir``.

    ``progress(bytes_done, bytes_total)`` is called after each uploaded file (and once at
    the end), with the total of the bytes that need sending.
    """
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise SdkError(
            f"cannot sync {local_dir} to board {session.board}: not a directory",
            fix="pass a directory",
        )
    root = session.resolve(remote_dir)
    local, local_dirs = _scan_local(local_dir)
    kind, remote, remote_dirs = _scan_remote(session, root)
    stats = SyncStats(files_total=len(local))

    if kind == "file":  # a file stands where the directory should be
        session.remove(root)
        stats.files_deleted += 1
    if kind != "dir":
        session.mkdir(root)

    # Delete: remote directories absent locally (topmost only), then stray files.
    gone_dirs = sorted(d for d in remote_dirs if d not in local_dirs)
    top_gone = [d for d in gone_dirs if not any(d.startswith(g + "/") for g in gone_dirs)]
    for d in top_gone:
        session.remove(posixpath.join(root, d), recursive=True)
        inside = [r for r in remote if r.startswith(d + "/")]
        stats.files_deleted += len(inside)
        for r in inside:
            del remote[r]
    # partial uploads of files still to send are kept: their upload resumes from the offset
    keep = {posixpath.join(posixpath.dirname(r), partial_name(posixpath.basename(r), f.sha256))
            for r, f in local.items()}
    for r in sorted(remote):
        if r not in local and r not in keep:
            session.remove(posixpath.join(root, r), recursive=remote[r][0] == "symlink")
            stats.files_deleted += 1

    # Send what is missing or different.
    to_send = [
        r for r, f in sorted(local.items()) if remote.get(r) != [f.sha256, f.executable]
    ]
    stats.files_skipped = len(local) - len(to_send)
    total = sum(local[r].size for r in to_send)
    existing = {"."} | {d for d in remote_dirs if d not in gone_dirs}
    made: set[str] = set(existing)
    done_bytes = 0
    for r in to_send:
        parent = posixpath.dirname(r) or "."
        if parent not in made:
            session.mkdir(posixpath.join(root, parent))
            p = parent
            while p and p not in made:
                made.add(p)
                p = posixpath.dirname(p)
        try:
            sent = session.upload(local[r].path, posixpath.join(root, r), key=local[r].sha256)
        except ConnectionLost as exc:
            done = stats.files_skipped + stats.files_sent
            raise ConnectionLost(
                f"{exc.message}: {done} of {len(local)} files are on the board "
                f"({done_bytes / 2**20:.1f} of {total / 2**20:.1f} MiB sent)",
                found=exc.found, fix=exc.fix) from exc
        stats.files_sent += 1
        stats.bytes_sent += sent
        done_bytes += local[r].size
        if progress is not None:
            progress(done_bytes, total)
    if progress is not None and not to_send:
        progress(0, 0)
    return stats
