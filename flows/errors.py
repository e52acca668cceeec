"""Expected failures of a command as one readable line: a missing or locked store, a bad
config (with its file and line), an unknown source, a missing path, a missing key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


class UserError(Exception):
    """A mistake or condition the user can fix; its message is the whole story."""


def config_line(path: Path, loc: tuple[Any, ...]) -> int | None:
    """The line of a TOML config that a validation error's location points at: the key's
    line inside its table (or `[[sources]]` entry), else the table's header."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    table, rest = (loc[0], loc[1:]) if loc else (None, ())
    index = rest[0] if rest and isinstance(rest[0], int) else None
    key = next((part for part in rest if isinstance(part, str)), None)
    header = re.compile(rf"^\s*\[\[\s*{re.escape(str(table))}\s*\]\]" if index is not None
                        else rf"^\s*\[\s*{re.escape(str(table))}\s*\]")
    starts = [n for n, line in enumerate(lines) if header.match(line)]
    if index is not None and index >= len(starts) or not starts:
        return None
    start = starts[index or 0]
    if key is not None:
        for n in range(start + 1, len(lines)):
            if lines[n].lstrip().startswith("["):
                break
            if re.match(rf"^\s*{re.escape(key)}\s*=", lines[n]):
                return n + 1
    return start + 1


def explain_config(exc: Any, path: Path) -> str:
    """A config validation error as `FILE:LINE: field: message`."""
    error = exc.errors()[0]
    loc = tuple(error.get("loc", ()))
    line = config_line(path, loc)
    where = f"{path}:{line}" if line else str(path)
    field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    message = error.get("msg", "invalid").removeprefix("Value error, ")
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where}: {field + ': ' if field else ''}{message}{more}"


def explain(exc: BaseException, config: Path | None = None) -> str | None:
    """One line for an expected failure; None for anything else (a bug)."""
    import duckdb
    from pydantic import ValidationError

    from connectors.records import TerminalError
    from qa.serve.models import ServeError

    if isinstance(exc, UserError | TerminalError):
        return str(exc)
    if isinstance(exc, ServeError):
        return exc.message
    if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
        holder = LOCK_HOLDER.search(str(exc))
        who = f"process {holder['pid']} ({holder['program']})" if holder else "another process"
        return f"the store is locked by {who}; wait for it to finish or stop it"
    if isinstance(exc, ValidationError) and config is not None and exc.title == "IngestConfig":
        return explain_config(exc, config)
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return f"{exc.strerror}: {exc.filename}"
    return None
