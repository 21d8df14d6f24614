"""Board profiles (``boards/*.toml``) and the inventory of boards (real and emulated).

A profile describes a kind of board: its arch, CPU clusters, QEMU CPU model, ISA features
and default thread count. The inventory maps a board *name* to a profile and to the way to
reach it over SSH (host, port, user, key, known host key).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sdk.errors import BoardError
from sdk.paths import inventory_path

ARCHES = ("aarch64", "armv7")
KNOWN_FEATURES = frozenset(
    {"neon", "fp16", "dotprod", "i8mm", "crc32", "aes", "sha2", "vfpv4", "sve", "bf16"}
)

# Platform tags a board's pip accepts, most specific first (pip does not widen them).
PLATFORM_TAGS: dict[str, tuple[str, ...]] = {
    "aarch64": (
        "manylinux_2_28_aarch64",
        "manylinux2014_aarch64",
        "manylinux_2_17_aarch64",
        "linux_aarch64",
    ),
    "armv7": (
        "manylinux_2_31_armv7l",
        "manylinux_2_28_armv7l",
        "manylinux_2_17_armv7l",
        "manylinux2014_armv7l",
        "linux_armv7l",
    ),
}
# `uname -m` on the board for each profile arch.
UNAME_MACHINE: dict[str, tuple[str, ...]] = {
    "aarch64": ("aarch64", "arm64"),
    "armv7": ("armv7l", "armv7", "armv8l"),
}
# Debian architecture names (for debootstrap and multiarch packages).
DEBIAN_ARCH = {"aarch64": "arm64", "armv7": "armhf"}
GNU_TRIPLET = {"aarch64": "aarch64-linux-gnu", "armv7": "arm-linux-gnueabihf"}


@dataclass(frozen=True)
class Cluster:
    name: str
    core: str
    cpus: tuple[int, ...]


@dataclass(frozen=True)
class BoardProfile:
    name: str
    description: str
    arch: str
    qemu_cpu: str
    features: tuple[str, ...]
    default_threads: int
    clusters: tuple[Cluster, ...]
    distro: str = "debian"
    release: str = "bookworm"
    python: str = "3.11"

    @property
    def debian_arch(self) -> str:
        return DEBIAN_ARCH[self.arch]

    @property
    def gnu_triplet(self) -> str:
        return GNU_TRIPLET[self.arch]

    @property
    def platform_tags(self) -> tuple[str, ...]:
        return PLATFORM_TAGS[self.arch]

    @property
    def cores(self) -> int:
        return sum(len(c.cpus) for c in self.clusters)

    @property
    def big_cpus(self) -> tuple[int, ...]:
        """CPU ids of the first (fastest) cluster."""
        return self.clusters[0].cpus

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def profiles_dir() -> Path:
    """Where profiles live: ``SDK_BOARDS_DIR``, the installed copy, or the source tree."""
    env = os.environ.get("SDK_BOARDS_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for cand in (here / "boards", here.parent / "boards"):
        if cand.is_dir() and any(cand.glob("*.toml")):
            return cand
    return here / "boards"


def profile_names() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.toml"))


def _unknown(kind: str, name: str, valid: list[str], fix: str) -> BoardError:
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return BoardError(
        f"unknown {kind} '{name}'",
        expected="one of " + ", ".join(valid) if valid else f"a known {kind}",
        found=repr(name),
        fix=hint + fix,
    )


def _require(data: dict[str, Any], key: str, typ: type | tuple[type, ...], src: Path) -> Any:
    if key not in data:
        raise BoardError(f"board profile {src.name} lacks '{key}'", fix=f"add '{key}' to {src}")
    val = data[key]
    if not isinstance(val, typ):
        tname = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise BoardError(
            f"board profile {src.name}: '{key}' has the wrong type",
            expected=tname,
            found=type(val).__name__,
            fix=f"edit {src}",
        )
    return val


def parse_profile(path: Path) -> BoardProfile:
    """Load and validate one profile file."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BoardError(f"cannot read board profile {path}: {exc}") from exc
    name = _require(data, "name", str, path)
    if name != path.stem:
        raise BoardError(
            f"board profile {path.name} names itself '{name}'",
            expected=path.stem,
            found=name,
            fix="make 'name' match the file name",
        )
    arch = _require(data, "arch", str, path)
    if arch not in ARCHES:
        raise BoardError(
            f"board profile {name}: unknown arch",
            expected=" or ".join(ARCHES),
            found=arch,
            fix=f"edit {path}",
        )
    features = _require(data, "features", list, path)
    bad = [f for f in features if f not in KNOWN_FEATURES]
    if bad:
        raise BoardError(
            f"board profile {name}: unknown ISA features {bad}",
            expected="some of " + ", ".join(sorted(KNOWN_FEATURES)),
            found=str(bad),
        )
    clusters_raw = _require(data, "clusters", list, path)
    if not clusters_raw:
        raise BoardError(f"board profile {name} has no clusters", fix=f"edit {path}")
    clusters = []
    seen: set[int] = set()
    for c in clusters_raw:
        cpus = tuple(int(x) for x in _require(c, "cpus", list, path))
        if not cpus or any(x < 0 for x in cpus) or seen & set(cpus):
            raise BoardError(
                f"board profile {name}: cluster '{c.get('name')}' has invalid cpu ids",
                expected="non-empty, non-negative, distinct ids",
                found=str(list(cpus)),
            )
        seen |= set(cpus)
        clusters.append(
            Cluster(name=_require(c, "name", str, path), core=_require(c, "core", str, path), cpus=cpus)
        )
    threads = _require(data, "default_threads", int, path)
    if not 1 <= threads <= len(seen):
        raise BoardError(
            f"board profile {name}: default_threads out of range",
            expected=f"1..{len(seen)}",
            found=str(threads),
        )
    os_ = data.get("os", {})
    return BoardProfile(
        name=name,
        description=str(data.get("description", "")),
        arch=arch,
        qemu_cpu=_require(data, "qemu_cpu", str, path),
        features=tuple(features),
        default_threads=threads,
        clusters=tuple(clusters),
        distro=str(os_.get("distro", "debian")),
        release=str(os_.get("release", "bookworm")),
        python=str(os_.get("python", "3.11")),
    )


def load_profile(name: str) -> BoardProfile:
    """The profile called ``name``; an unknown name gets the closest valid names."""
    names = profile_names()
    if name not in names:
        raise _unknown("board profile", name, names, "run 'sdk board list' to see profiles")
    return parse_profile(profiles_dir() / f"{name}.toml")


# --------------------------------------------------------------------------- inventory


@dataclass
class BoardEntry:
    """One board in the inventory: which profile it is and how to reach it."""

    name: str
    profile: str
    host: str
    port: int = 22
    user: str = "root"
    key: str | None = None
    host_key: str | None = None  # "<type> <base64>" once trusted
    emulated: bool = False
    rootfs: str | None = None  # emulated boards: where their root filesystem lives
    pid: int | None = None  # emulated boards: the sshd's pid while running
    extra: dict[str, Any] = field(default_factory=dict)

    def to_toml_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None and k != "name"}
        if not d.get("extra"):
            d.pop("extra", None)
        return d


class Inventory:
    """The TOML inventory at :func:`sdk.paths.inventory_path` (``SDK_INVENTORY``)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or inventory_path()
        self.boards: dict[str, BoardEntry] = {}
        if self.path.exists():
            try:
                data = tomllib.loads(self.path.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise BoardError(
                    f"inventory {self.path} is not valid TOML: {exc}",
                    fix="fix or remove the file",
                ) from exc
            for name, raw in data.get("boards", {}).items():
                fields = {k: v for k, v in raw.items() if k in BoardEntry.__dataclass_fields__}
                self.boards[name] = BoardEntry(name=name, **fields)

    def save(self) -> None:
        import tomli_w

        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"boards": {n: b.to_toml_dict() for n, b in sorted(self.boards.items())}}
        tmp = self.path.with_suffix(".toml.tmp")
        tmp.write_text(tomli_w.dumps(doc))
        os.replace(tmp, self.path)  # never a half-written inventory

    def get(self, name: str) -> BoardEntry:
        if name not in self.boards:
            valid = sorted(self.boards)
            raise _unknown(
                "board",
                name,
                valid,
                "add it with 'sdk board add' or start one with 'sdk board emulate rk3399'",
            )
        return self.boards[name]

    def add(self, entry: BoardEntry, *, replace: bool = False) -> None:
        load_profile(entry.profile)  # validates the profile name
        if entry.name in self.boards and not replace:
            raise BoardError(
                f"board '{entry.name}' is already in the inventory",
                fix=f"remove it first with 'sdk board remove {entry.name}'",
            )
        self.boards[entry.name] = entry

    def remove(self, name: str) -> BoardEntry:
        entry = self.get(name)
        del self.boards[name]
        return entry

    def real_boards(self) -> list[BoardEntry]:
        return [b for b in self.boards.values() if not b.emulated]


_BOARD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\$?")


def check_board_address(name: str, host: str, user: str) -> None:
    """Refuse (one line) a board name, host or user that cannot be right.

    The host is an IPv4/IPv6 address or a DNS name (labels of letters, digits and '-'); the
    user a POSIX login name. Whether the name resolves is checked when connecting."""
    import ipaddress

    if not _BOARD_NAME.fullmatch(name):
        raise BoardError(f"invalid board name {name!r}",
                         expected="1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                         found=repr(name))
    try:
        ipaddress.ip_address(host)
        ok_host = True
    except ValueError:
        labels = host.removesuffix(".").split(".")
        ok_host = 0 < len(host) <= 253 and all(_HOST_LABEL.fullmatch(lb) for lb in labels) \
            and not labels[-1].isdigit()
    if not ok_host:
        raise BoardError(f"invalid host {host!r} for board {name}",
                         expected="an IP address or a host name (letters, digits, '-', dots)",
                         found=repr(host), fix="pass --host 192.168.1.20 or --host board.local")
    if not _USER.fullmatch(user):
        raise BoardError(f"invalid user {user!r} for board {name}",
                         expected="a login name (lowercase letters, digits, '_', '-', '.')",
                         found=repr(user))
