"""The one JSON form of every record: :func:`to_dict` / :func:`from_dict` (and the text forms
:func:`to_json` / :func:`from_json`). Standard library only.

:func:`from_dict` rebuilds nested records from the field annotations, which are resolved in
the module that defines the record: a record module imports at run time every type its
fields name.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def to_dict(record: Any) -> Any:
    """The JSON-able form of a record (paths as strings)."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: to_dict(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, dict):
        return {k: to_dict(v) for k, v in record.items()}
    if isinstance(record, (list, tuple)):
        return [to_dict(v) for v in record]
    if isinstance(record, Path):
        return str(record)
    if isinstance(record, enum.Enum):
        return record.value
    return record


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(tp: Any, value: Any) -> Any:
    if value is None or tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        return _build(kinds[0], value) if len(kinds) == 1 else value
    if origin is list:
        return [_build(args[0], v) for v in value]
    if origin is tuple:
        return tuple(_build(args[0], v) for v in value)
    if origin is dict:
        return {k: _build(args[1], v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)  # type: ignore[arg-type]
    if tp is Path:
        return Path(value)
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a record of type ``cls`` from its JSON form; an unknown field is an error."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, found {type(data).__name__}")
    hints = _hints(cls)  # type: ignore[arg-type]  # classes are hashable
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
    return cls(**{k: _build(hints[k], v) for k, v in data.items()})


def to_json(record: Any) -> str:
    return json.dumps(to_dict(record), indent=2, sort_keys=True) + "\n"


def from_json(cls: type[T], text: str) -> T:
    return from_dict(cls, json.loads(text))
