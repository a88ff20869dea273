"""One object per store, made on first use and dropped with the store (readers, tile caches, parcel engines)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar
from weakref import WeakKeyDictionary

from sitecheck.stores.base import Store

T = TypeVar("T")


class PerStore(Generic[T]):
    """Call with a store to get its object; the first call makes it (once, even with threads racing)."""

    def __init__(self, make: Callable[[Store], T]) -> None:
        """Remember how to make a store's object."""
        self._make = make
        self._made: WeakKeyDictionary[Store, T] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, store: Store) -> T:
        """Return the store's object, making it on first use (found without the lock once it exists)."""
        made = self._made.get(store)
        if made is None:
            with self._lock:
                made = self._made.get(store)
                if made is None:
                    made = self._made[store] = self._make(store)
        return made
