"""Let ``sdk.convert``, ``sdk.quantize``, ``sdk.deploy`` and ``sdk.bench`` be both the
module of that name (``sdk.convert.prepare``, ``from sdk.deploy import DeployOptions``) and
the API call (``sdk.convert(model)``): Python binds a package's submodule as its attribute,
so the module itself is made callable; ``inspect.signature`` shows the call's signature.

Kept over the alternatives (issue 15): renaming the four modules (two are packages with many
submodules) breaks every ``from sdk.deploy import ...`` in the code, the tests, the branches
in flight and users' scripts; a lazy package ``__getattr__`` cannot work, since importing a
submodule binds it as the package's attribute and the function is gone after the first
``import sdk.deploy`` (the CLI does it); a stub ``sdk/__init__.pyi`` declaring the functions
mistypes every module-style use (10 mypy errors in the SDK itself). The cost: type checkers
see a module, so typed scripts call ``from sdk.api import deploy`` (the same function)."""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    _api_name: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._api()(*args, **kwargs)

    def _api(self) -> Any:
        from sdk import api

        return getattr(api, self._api_name)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._api())


def make_callable(module_name: str, api_name: str) -> None:
    mod = sys.modules[module_name]
    mod.__class__ = _CallableModule
    mod._api_name = api_name  # type: ignore[attr-defined]
