"""Compiled loops (numba): the decorator every compiled function uses, and the array types of their signatures.

A function is compiled for its one signature when its module is imported, with the GIL released while it runs.
Its machine code is cached on disk (beside the module, in ``NUMBA_CACHE_DIR`` when set, or in the user's cache
directory) and loaded from there by later processes (about 0.2 s instead of about 5 s). Where numba finds no
writable place for that cache (a read-only install run by a user without a home), the function is compiled in
memory at every start instead of refusing to import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import numba
from numba import types

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

INT = types.int64
FLOAT = types.float64
INTS = types.int64[::1]
BOOLS = types.boolean[::1]
BYTES = types.uint8[::1]
POINTS = types.int64[:, ::1]  # (x, y) per row
READ_ONLY_BYTES = types.Array(types.uint8, 1, "C", readonly=True)  # a view of a bytes object
_uncached: list[str] = []


def compiled(signature: Any) -> Callable[[F], F]:
    """Compile a function for ``signature`` (cached on disk where numba can write one)."""

    def decorate(function: F) -> F:
        try:
            return numba.njit(signature, cache=True, nogil=True)(function)
        except (RuntimeError, OSError) as error:  # no writable cache directory anywhere
            if not _uncached:
                log.warning("compiled loops are not cached on disk (%s): compiling them at every start", error)
            _uncached.append(function.__qualname__)
            return numba.njit(signature, nogil=True)(function)

    return decorate
