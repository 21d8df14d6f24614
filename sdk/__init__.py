"""Edge deployment SDK: convert, quantize, bundle, push, run and benchmark vision models on ARM boards.

The Python API (``sdk.deploy``, ``sdk.convert``, ``sdk.quantize``, ``sdk.bench``) lives in
:mod:`sdk.api` and is loaded on first use: board code imports this package too and must
stay light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from sdk.errors import BoardBusy, ConnectionLost, NoSpace, SdkError

_API = ("deploy", "convert", "quantize", "bench")

__all__ = ["BoardBusy", "ConnectionLost", "NoSpace", "SdkError", "__version__"]


def __getattr__(name: str) -> Any:
    # `sdk.convert`, `sdk.quantize`, `sdk.deploy`, `sdk.bench` are modules made callable
    # (sdk._callable): `sdk.convert(model)` calls the API, `sdk.convert.prepare` still works.
    if name in _API:
        import importlib

        return importlib.import_module(f"sdk.{name}")
    raise AttributeError(f"module 'sdk' has no attribute {name!r}")
