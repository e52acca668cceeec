"""Objects made on first use, so a command that does not need one never pays its import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Lazy:
    """Stands for the object `make` returns, made on first attribute access."""

    def __init__(self, make: Callable[[], Any]):
        self._make = make
        self._made: Any = None

    @property
    def made(self) -> bool:
        return self._made is not None

    def __getattr__(self, name: str) -> Any:
        if self._made is None:
            self._made = self._make()
        return getattr(self._made, name)
