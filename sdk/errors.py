"""One family of user-facing errors.

Every error a user can cause derives from :class:`SdkError`. It renders as one line that
says what went wrong, what was expected, what was found and how to fix it; the CLI prints
that line and exits 1, never a traceback.
"""

from __future__ import annotations


class SdkError(Exception):
    """An error the user can cause and fix."""

    def __init__(
        self,
        message: str,
        *,
        expected: str | None = None,
        found: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.found = found
        self.fix = fix

    def one_line(self) -> str:
        parts = [self.message]
        if self.expected is not None or self.found is not None:
            detail = []
            if self.expected is not None:
                detail.append(f"expected {self.expected}")
            if self.found is not None:
                detail.append(f"found {self.found}")
            parts.append("(" + ", ".join(detail) + ")")
        line = " ".join(parts)
        if self.fix:
            line += f"; fix: {self.fix}"
        return " ".join(line.split())  # always a single line

    def __str__(self) -> str:
        return self.one_line()


class BoardError(SdkError):
    """Unknown or invalid board profile or inventory entry."""


class ModelError(SdkError):
    """The model file is missing, not ONNX, or has shapes we cannot fix."""


class ConvertError(SdkError):
    """An engine could not convert the model, or its outputs disagree."""


class RemoteError(SdkError):
    """The board cannot be reached or a remote command failed."""


class HostKeyError(RemoteError):
    """The board's SSH host key is unknown or has changed."""


class BundleError(SdkError):
    """The bundle cannot be built, or does not fit the board."""


class EmulateError(SdkError):
    """The emulated board cannot be built or started."""


class QuantizeError(SdkError):
    """int8 quantization cannot be done as asked, or the int8 model is unusable."""


class ConnectionLost(RemoteError):
    """The SSH connection to a board broke in the middle of a step (re-running resumes)."""


class BoardBusy(RemoteError):
    """Another deploy holds the board's lock for the same app."""


class NoSpace(RemoteError):
    """The board's filesystem that holds the app directory is full."""


class Interrupted(SdkError):
    """The user pressed Ctrl-C; the CLI prints the line and exits 130."""

    exit_code = 130
