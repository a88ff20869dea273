"""The engine side of parcel search: what each store engine provides, and how to get it for a store."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sitecheck.parcels.layout import ParcelState, PartState
from sitecheck.parcels.records import DistanceRow, IndexRow, LayerRow, Nearest, ParcelBase, Piece
from sitecheck.parcels.spec import SearchPage, SearchSpec
from sitecheck.per_store import PerStore
from sitecheck.stores.base import LayerVersion, Store

FreshCheck = Callable[[ParcelState | None, dict[str, int]], bool]


@dataclass
class RefreshWrite:
    """What a refresh writes: replaced parts' rows, the rebuilt index and the new part states."""

    parcels_version: int
    reset: bool
    layer_rows: dict[str, list[LayerRow]]
    distance_rows: dict[str, list[DistanceRow]]
    neighbours: list[tuple[int, int, float]] | None
    dropped: list[str]
    index: list[IndexRow]
    geometries: np.ndarray
    parts: list[PartState]
    relation_keys: list[str]  # the polygonal layers in configuration order (bit positions of relation masks)


@dataclass
class Vocabulary:
    """The values present in the current index (for checking filters and for search options)."""

    districts: list[tuple[str, str | None]] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    industries: list[str] = field(default_factory=list)
    parks: list[str] = field(default_factory=list)


@dataclass
class DetailRows:
    """Everything stored about one parcel: its index row, layer rows, distance rows and neighbours."""

    state: ParcelState
    index: dict[str, Any]
    layers: list[LayerRow]
    distances: list[DistanceRow]
    neighbours: list[dict[str, Any]]
    geometry: Any


class RefreshSession(Protocol):
    """An exclusive refresh: reads the layers set-based and writes the parts in one transaction."""

    def state(self) -> ParcelState | None:
        """The stored state (inside the exclusive transaction)."""
        ...

    def parcel_base(self, version: LayerVersion) -> ParcelBase:
        """Every parcel of a version in fid order: canonical fields, attributes, geometry."""
        ...

    def overlay(self, parcels: LayerVersion, layer: LayerVersion, base: ParcelBase) -> list[Piece]:
        """Every (parcel, feature) overlap of a polygonal layer: covered, or the intersection as WKB."""
        ...

    def nearest(
        self, parcels: LayerVersion, layer: LayerVersion, base: ParcelBase
    ) -> tuple[list[Nearest], list[dict[str, Any]]]:
        """Nearest-feature candidates per parcel and kind, and the layer's kinds (``kind``, ``points``)."""
        ...

    def neighbour_candidates(self, parcels: LayerVersion, base: ParcelBase, radius_m: float) -> np.ndarray:
        """Pairs of parcel fids (a < b) that may lie within ``radius_m`` of each other, shape (n, 2)."""
        ...

    def read_layer_rows(self, parcels_version: int, keys: list[str]) -> list[LayerRow]:
        """Stored rows of the given layers."""
        ...

    def read_distance_rows(self, parcels_version: int, keys: list[str]) -> list[DistanceRow]:
        """Stored distance rows of the given layers."""
        ...

    def write(self, change: RefreshWrite) -> None:
        """Replace the changed parts, the index and the states (committed with the session)."""
        ...


class ParcelEngine(Protocol):
    """Parcel storage and queries of one store engine."""

    def refresh_session(self) -> AbstractContextManager[RefreshSession]:
        """Open an exclusive refresh (one at a time per deployment)."""
        ...

    def pointers(self) -> dict[str, int]:
        """The current version number of every layer (cheap)."""
        ...

    def read_state(self) -> ParcelState | None:
        """The stored state, or None before the first computation."""
        ...

    def last_state(self) -> ParcelState | None:
        """The state this process saw last (a hint: searches check it against the store)."""
        ...

    def vocabulary(self, state: ParcelState) -> Vocabulary:
        """District, status, industry and park values of the index (cached per state)."""
        ...

    def search(self, spec: SearchSpec, token: str, fresh: FreshCheck) -> SearchPage | None:
        """Filter, rank and page; None when the stored state is no longer ``token`` or no longer fresh."""
        ...

    def detail(self, parcel_id: str, token: str, fresh: FreshCheck) -> DetailRows | None:
        """One parcel's stored rows; None when stale as for ``search``; ParcelNotFound when unknown."""
        ...

    def adjacent_pairs(self, state: ParcelState, fids: list[int], max_gap_m: float) -> list[tuple[int, int, float]]:
        """Neighbour pairs (a < b) among the given parcels with a gap of at most ``max_gap_m``."""
        ...


def parcel_engine(store: Store) -> ParcelEngine:
    """The parcel engine of a store (one per store object, made on first use)."""
    return _ENGINES(store)


def _make_engine(store: Store) -> ParcelEngine:
    """The parcel engine for a store's engine kind."""
    if store.engine == "postgis":
        from sitecheck.stores.parcels_postgis import PostgisParcels
        from sitecheck.stores.postgis import PostgisStore

        assert isinstance(store, PostgisStore)
        return PostgisParcels(store)
    from sitecheck.stores.embedded import EmbeddedStore
    from sitecheck.stores.parcels_embedded import EmbeddedParcels

    assert isinstance(store, EmbeddedStore)
    return EmbeddedParcels(store)


_ENGINES: PerStore[ParcelEngine] = PerStore(_make_engine)
