"""The engine registry: the one place the engines are listed.

Every other module asks it — which engines exist, which have a build for a board's arch,
what each can do (:class:`~sdk.engines.base.Capabilities`) — and the CLI's choices come
from it. Adding an engine is one folder ``sdk/engines/<name>/`` (see
:mod:`sdk.engines.base` for what it holds) and one entry in :data:`BACKENDS`. Nothing under
``sdk/engines/`` imports this module back.
"""

from __future__ import annotations

from sdk.engines import mnn, ncnn
from sdk.engines.base import Backend, Capabilities, Runner, open_runner
from sdk.errors import SdkError

BACKENDS: dict[str, Backend] = {b.caps.name: b for b in (ncnn.BACKEND, mnn.BACKEND)}
ALL = "all"

__all__ = ["ALL", "BACKENDS", "Backend", "Capabilities", "Runner", "choices", "for_arch", "get",
           "names", "open_runner", "precisions", "select"]


def names() -> tuple[str, ...]:
    return tuple(BACKENDS)


def choices() -> tuple[str, ...]:
    """What ``--engine`` takes: each engine, or all of them."""
    return (*BACKENDS, ALL)


def precisions() -> tuple[str, ...]:
    """Every precision some engine deploys, in the engines' order."""
    return tuple(dict.fromkeys(p for b in BACKENDS.values() for p in b.caps.precisions))


def get(name: str) -> Backend:
    if name not in BACKENDS:
        import difflib

        close = difflib.get_close_matches(name, list(BACKENDS), n=1)
        raise SdkError(f"unknown engine {name!r}", expected=" | ".join(BACKENDS), found=name,
                       fix=f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def for_arch(arch: str) -> tuple[str, ...]:
    """The engines with a build for boards of ``arch``."""
    return tuple(n for n, b in BACKENDS.items() if arch in b.caps.arches)


def select(choice: str, arch: str | None = None, *, board: str = "") -> list[str]:
    """The engines ``--engine choice`` means, for a board of ``arch`` (None: the host)."""
    if choice != ALL:
        get(choice)
    avail = names() if arch is None else for_arch(arch)
    if choice == ALL:
        return list(avail)
    if choice not in avail:
        raise SdkError(f"engine '{choice}' has no build for {arch} boards{f' ({board})' if board else ''}",
                       expected=" | ".join(avail), found=choice)
    return [choice]
