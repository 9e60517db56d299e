"""The recast_ml exception hierarchy (the compiled core raises these same classes).

    RecastError (RuntimeError)            every error of recast_ml
    ├── InputError (+ ValueError)         malformed input data (event files, arrays), and errors while
    │                                     evaluating an analysis expression on an event
    ├── ConfigError (+ ValueError)        invalid configuration: analysis definition, detector card,
    │                                     expression, validation config
    ├── ModelError (+ ValueError)         an ML model that cannot be loaded or run
    └── DependencyError                   a missing or incompatible run-time dependency

Each carries where the problem is, ``None`` when unknown: ``file`` (a path or a description such
as ``<expression>``), ``line`` and ``column`` (1-based) and, for :class:`InputError`, ``event``
(0-based index within the file). ``message`` is the text without the location; ``str(error)`` is
``file:line:column: message`` (``file:line:column (event N): message`` for input errors), the
format of the C++ core::

    raise ConfigError("duplicate key 'cuts'", file="analysis.yaml", line=12, column=5)
    raise ModelError(f"{path}: not an ONNX model")   # a message that already names the place

A missing file is the built-in :class:`FileNotFoundError` (with ``filename`` set).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ConfigError", "DependencyError", "InputError", "ModelError", "RecastError"]


def _location(file: str | None, line: int | None, column: int | None, event: int | None) -> str:
    out = file if file is not None else ""
    if line is not None:
        out += f":{line}" if out else f"line {line}"
        if column is not None:
            out += f":{column}"
    if event is not None:
        out += f" (event {event})" if out else f"event {event}"
    return out


class RecastError(RuntimeError):
    """Base class of all recast_ml errors.

    ``RecastError(message, file=None, line=None, column=None)``: ``str()`` puts the location (when
    given) before the message. Attributes ``message``, ``file``, ``line``, ``column``.
    """

    message: str
    file: str | None
    line: int | None
    column: int | None

    def __init__(
        self, message: str = "", *, file: str | None = None, line: int | None = None, column: int | None = None
    ) -> None:
        where = _location(file, line, column, self._event())
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column

    def _event(self) -> int | None:
        return None


class InputError(RecastError, ValueError):
    """Malformed input data; ``event`` is the 0-based event index within ``file`` (``None`` if
    unknown). ``InputError(message, file=None, line=None, column=None, event=None)``."""

    event: int | None

    def __init__(
        self,
        message: str = "",
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        event: int | None = None,
    ) -> None:
        self.event = event
        super().__init__(message, file=file, line=line, column=column)

    def _event(self) -> int | None:
        return self.event


class ConfigError(RecastError, ValueError):
    """An invalid configuration: analysis definition, detector card, expression, validation file."""


class ModelError(RecastError, ValueError):
    """A machine-learning model that cannot be loaded, or is called with inputs it does not accept."""


class DependencyError(RecastError):
    """A missing or incompatible run-time dependency (for example the ONNX Runtime library)."""


def check_count(name: str, value: int, least: int) -> None:
    """A ConfigError unless the count ``value`` of ``name`` (the option or parameter, as the user
    wrote it) is at least ``least``: the one-line error up front instead of e.g. "run_batches: no
    events" after the set-up (the CLI checks its options the same way)."""
    if value < least:
        raise ConfigError(f"{name} must be at least {least}, got {value}")


def check_file(path: os.PathLike[str], what: str) -> None:
    """A ConfigError "``what``: no such file" (or "not a file", e.g. a folder) unless ``path`` is
    a file: the wording of ``run --events`` and ``events summary``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what}: " + ("not a file" if p.exists() else "no such file"))
