"""A crash is not a finding: exit code 70, a short message, the traceback in a log file.

``rollbook validate`` ends 1 when the bundle has errors, ``rollbook sync`` 1 when the run
failed; a script must be able to tell those from a bug in Rollbook. A command wrapped with
:func:`guarded` turns any unexpected exception into exit code 70 (``EX_SOFTWARE`` of
sysexits.h), prints one line naming the log file, and writes the traceback to
``ROLLBOOK_HOME/logs/crash-<time>-<pid>.log`` (readable by its owner only: a traceback may
quote a value of the bundle). The terminal never shows a traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

#: The exit code of an internal error (sysexits.h EX_SOFTWARE).
EXIT_INTERNAL = 70
F = TypeVar("F", bound=Callable[..., Any])


def log_folder() -> Path:
    """Where crash logs go: ``ROLLBOOK_HOME/logs`` (``./var/logs`` by default); Django's
    setting when the command has set Django up, else the environment's."""
    try:
        from django.conf import settings

        if settings.configured:
            return Path(settings.ROLLBOOK_HOME) / "logs"
    except Exception:  # no Django, or settings that cannot load: the environment decides
        pass
    return Path(os.environ.get("ROLLBOOK_HOME") or "var") / "logs"


def write_crash_log(exc: BaseException, command: str) -> Path | None:
    """Write the traceback of ``exc`` to a new log file; its path (None if it cannot be
    written: the message then says so)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        folder = log_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{stamp}-{os.getpid()}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
            f.write(f"rollbook {command}: internal error at {stamp}\n")
            f.write(f"argv: {sys.argv!r}\n\n")
            f.write("".join(traceback.format_exception(exc)))
        return path.resolve()
    except OSError:
        return None


def report_crash(exc: BaseException, command: str) -> None:
    """Tell the user, in one line on stderr, and write the log; then exit 70."""
    path = write_crash_log(exc, command)
    where = f"the details are in {path}" if path else "no log could be written"
    sys.stderr.write(
        f"Internal error in rollbook {command} ({type(exc).__name__}): this is a bug in "
        f"Rollbook, not a problem of your input; {where}. Exit code {EXIT_INTERNAL}.\n"
    )
    raise typer.Exit(EXIT_INTERNAL)


def guarded(command: str) -> Callable[[F], F]:
    """Wrap a command: exits, usage errors and the user's errors pass; anything else is a
    crash (exit 70, log file)."""
    from rollbook.errors import UserError

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except (typer.Exit, typer.Abort, typer.TyperException):
                raise
            except UserError:
                raise
            except Exception as exc:
                report_crash(exc, command)

        return run  # type: ignore[return-value]

    return wrap
