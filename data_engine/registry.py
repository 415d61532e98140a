"""A small name -> object registry with "did you mean" errors, for the things users choose by name.

Used only at user-facing seams: dataset formats, model families, rewards, metrics, generation backends.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from data_engine.errors import UserError

T = TypeVar("T")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean "x"?' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return f' Did you mean "{close[0]}"?' if close else ""


class Registry(Generic[T]):
    """Maps names to objects; `get` fails with the known names and the closest match.

    Args:
        kind: what is registered, used in error messages (e.g. "dataset format").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering `obj` under `name`; registering a name twice is a bug and raises."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise RuntimeError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        self.register(name)(obj)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items))
            raise UserError(
                f"unknown {self.kind} {name!r}.{did_you_mean(name, self._items)} Known: {known}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def items(self):
        return sorted(self._items.items())
