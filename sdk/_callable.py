"""Let ``sdk.convert``, ``sdk.quantize``, ``sdk.deploy`` and ``sdk.bench`` be both the
module of that name (``sdk.convert.prepare``) and the API call (``sdk.convert(model)``):
Python binds a package's submodule as its attribute, so the module itself is made callable."""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    _api_name: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from sdk import api

        return getattr(api, self._api_name)(*args, **kwargs)


def make_callable(module_name: str, api_name: str) -> None:
    mod = sys.modules[module_name]
    mod.__class__ = _CallableModule
    mod._api_name = api_name  # type: ignore[attr-defined]
