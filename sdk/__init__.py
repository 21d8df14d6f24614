"""Edge deployment SDK: convert, quantize, bundle, push, run and benchmark vision models on ARM boards."""

from __future__ import annotations

__version__ = "0.1.0"

from sdk.errors import SdkError

__all__ = ["SdkError", "__version__"]
