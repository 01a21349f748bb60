"""Named things a deployment registers when its modules are imported: topics, notification types, actions.

One catalogue type for all three, so each is registered, looked up and listed the same way, and a name taken
twice is an error that says so (two modules defining one topic would otherwise silently replace each other's
rule).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Catalogue(Generic[T]):
    """``kind`` names what it holds (``"topic"``), for error messages."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Add ``item`` under ``name``; returns it unchanged (so it also serves as a decorator's body)."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered; {self.kind} names must be unique")
        self._items[name] = item
        return item

    def get(self, name: object) -> T | None:
        """The item registered under ``name``; None for any other name, or a name that is not a string."""
        return self._items.get(name) if isinstance(name, str) else None

    def remove(self, name: str) -> T | None:
        """Take ``name`` out again (a test's own registration, at its end); None when it was not there."""
        return self._items.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __iter__(self) -> Iterator[T]:
        """The items, by name."""
        return iter([self._items[name] for name in self.names()])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._items

    def __len__(self) -> int:
        return len(self._items)
