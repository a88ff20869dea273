"""Mapbox Vector Tile writing: a layer's features, their geometry commands and tags, and its key and value tables.

The bytes are exactly those the mapbox-vector-tile encoder writes for the same features (its command rules, its
value de-duplication, protobuf field order; ``tests/sitecheck/test_mvt_writer.py`` compares them), without its
cost of about 40 µs per feature in Python. The features are written by one compiled loop (``write_features``;
``sitecheck.compiled``) over the tile's paths and attribute codes; the layer around them is put together here.

Geometries arrive in integer tile units as paths (rings of polygons, parts of lines, single points), each path
owned by a feature; attributes arrive coded once per layer version (``code_attributes``), so a tile only gathers
codes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numba import types
from numba.typed import Dict

from sitecheck.compiled import BOOLS, BYTES, INT, INTS, POINTS, compiled

# MVT geometry types and commands (vector_tile.proto; specification 2.1, section 4.3).
POINT, LINESTRING, POLYGON = 1, 2, 3
_MOVE_TO, _LINE_TO, _CLOSE_PATH = 1, 2, 7
# Protobuf keys (field number << 3 | wire type) of the fields written here: all one byte.
_TILE_LAYER = 0x1A
_LAYER_NAME, _LAYER_FEATURE, _LAYER_KEY, _LAYER_VALUE, _LAYER_EXTENT = 0x0A, 0x12, 0x1A, 0x22, 0x28
_LAYER_VERSION_2 = b"\x78\x02"
_FEATURE_ID, _FEATURE_TAGS, _FEATURE_TYPE, _FEATURE_GEOMETRY = 0x08, 0x12, 0x18, 0x22
_VALUE_STRING, _VALUE_DOUBLE, _VALUE_INT, _VALUE_BOOL = b"\x0a", b"\x19", b"\x20", b"\x38"
_UINT64 = (1 << 64) - 1
_INT64 = range(-(1 << 63), 1 << 63)
# The varints (one or two bytes) of 0 to 2^14 - 1.
_SMALL_VARINTS = tuple(
    bytes([value]) if value < 0x80 else bytes([(value & 0x7F) | 0x80, value >> 7]) for value in range(1 << 14)
)


@dataclass(frozen=True)
class AttributeCodes:
    """A layer version's reported fields, coded for tiles.

    ``codes[i, j]`` is the code of row i's value of field ``names[j]`` (-1: null or a type MVT cannot carry, both
    omitted). Codes that one value table entry serves share a ``classes`` entry (a writer's table is a dict:
    1 and 1.0 are one entry, True is not 1); ``entries[code]`` is the layer's ``values`` field for that code,
    ``keys[j]`` its ``keys`` field for field j.
    """

    names: tuple[str, ...]
    codes: np.ndarray
    classes: np.ndarray
    entries: tuple[bytes, ...]
    keys: tuple[bytes, ...]


class TilePaths(NamedTuple):
    """Lines, polygon rings and points of a tile's features, in integer tile units (y down).

    Per path: ``owner``, the feature's position in the tile (a feature's paths consecutive, its exterior ring
    before its holes), and ``opens``, whether it opens a part (a polygon's exterior ring, a line, a point).
    ``vertex_starts`` (one more than the paths) delimits each path's vertices in ``xy``; rings are closed (their
    last point repeats the first), a point is a path of one vertex.
    """

    owner: np.ndarray
    opens: np.ndarray
    vertex_starts: np.ndarray
    xy: np.ndarray


NO_PATHS = TilePaths(
    owner=np.zeros(0, dtype=np.int64),
    opens=np.zeros(0, dtype=bool),
    vertex_starts=np.zeros(1, dtype=np.int64),
    xy=np.zeros((0, 2), dtype=np.int64),
)


def join_paths(first: TilePaths, second: TilePaths) -> TilePaths:
    """The paths of two disjoint sets of features, as one."""
    if not len(second.owner):
        return first
    if not len(first.owner):
        return second
    return TilePaths(
        owner=np.concatenate((first.owner, second.owner)),
        opens=np.concatenate((first.opens, second.opens)),
        vertex_starts=np.concatenate((first.vertex_starts[:-1], second.vertex_starts + len(first.xy))),
        xy=np.concatenate((first.xy, second.xy)),
    )


def write_layer(
    name: str,
    extent: int,
    fids: np.ndarray,
    kinds: np.ndarray,
    paths: TilePaths,
    attributes: AttributeCodes,
    rows: np.ndarray,
) -> bytes:
    """Write a tile of one layer. Per feature (its position in the tile): its id (a negative one is left out,
    as a writer does), MVT geometry type (0: not drawn) and attribute row (in ``attributes``). A feature left with
    no command is not written."""
    features, keys, values = write_features(
        np.ascontiguousarray(fids, dtype=np.int64),
        np.ascontiguousarray(kinds, dtype=np.int64),
        attributes.codes[rows],
        attributes.classes,
        paths.owner,
        paths.opens,
        paths.vertex_starts,
        paths.xy,
    )
    layer = b"".join(
        [
            _field(_LAYER_NAME, name.encode("utf-8")),
            features.tobytes(),
            *map(attributes.keys.__getitem__, keys.tolist()),
            *map(attributes.entries.__getitem__, values.tolist()),
            bytes([_LAYER_EXTENT]) + _varint(extent),
            _LAYER_VERSION_2,
        ]
    )
    return _field(_TILE_LAYER, layer)


@compiled(INT(BYTES, INT, types.uint64))
def _put_varint(out: np.ndarray, at: int, value: int) -> int:
    """Write an unsigned value as a protobuf varint at ``at``; return the position after it."""
    while value > 0x7F:
        out[at] = (value & 0x7F) | 0x80
        value >>= 7
        at += 1
    out[at] = value
    return at + 1


@compiled(INT(types.uint64))
def _varint_size(value: int) -> int:
    """Bytes of an unsigned value as a protobuf varint."""
    size = 1
    while value > 0x7F:
        value >>= 7
        size += 1
    return size


@compiled(types.uint64(INT))
def _zigzag(value: int) -> int:
    """A signed move as protobuf's zig-zag encoding."""
    return (value << 1) ^ (value >> 63)


@compiled(INT(BYTES, INT, INTS, BOOLS, INTS, POINTS, INT, INT, INT))
def _write_geometry(
    out: np.ndarray,
    at: int,
    owner: np.ndarray,
    opens: np.ndarray,
    vertex_starts: np.ndarray,
    xy: np.ndarray,
    first_path: int,
    end_path: int,
    kind: int,
) -> int:
    """Write the commands of one feature's paths (``first_path`` up to ``end_path``) at ``at``; return the
    position after them (``at`` itself when nothing is drawn).

    Points: one MoveTo of all the points, repeated points kept. Lines and rings: coordinates are moves from the
    previous point written for the feature; a ring's closing point is not written (ClosePath is); a point
    repeating the previous one is dropped; a path left with no LineTo is dropped, and with its exterior ring the
    whole polygon (its holes too).
    """
    x_at = y_at = 0
    if kind == POINT:
        count = vertex_starts[end_path] - vertex_starts[first_path]
        if count == 0:
            return at
        at = _put_varint(out, at, (count << 3) | _MOVE_TO)
        for v in range(vertex_starts[first_path], vertex_starts[end_path]):
            at = _put_varint(out, at, _zigzag(xy[v, 0] - x_at))
            at = _put_varint(out, at, _zigzag(xy[v, 1] - y_at))
            x_at, y_at = xy[v, 0], xy[v, 1]
        return at
    closed = 1 if kind == POLYGON else 0
    part_written = False
    for path in range(first_path, end_path):
        if not opens[path] and not part_written:
            continue  # a hole of a polygon whose exterior was dropped
        start, end = vertex_starts[path], vertex_starts[path + 1]
        last = max(end - 1 - closed, start)
        line_to = 0
        for v in range(start + 1, last + 1):
            if xy[v, 0] != xy[v - 1, 0] or xy[v, 1] != xy[v - 1, 1]:
                line_to += 1
        if line_to:
            out[at] = (1 << 3) | _MOVE_TO  # one point
            at = _put_varint(out, at + 1, _zigzag(xy[start, 0] - x_at))
            at = _put_varint(out, at, _zigzag(xy[start, 1] - y_at))
            at = _put_varint(out, at, (line_to << 3) | _LINE_TO)
            for v in range(start + 1, last + 1):
                dx, dy = xy[v, 0] - xy[v - 1, 0], xy[v, 1] - xy[v - 1, 1]
                if dx or dy:
                    at = _put_varint(out, at, _zigzag(dx))
                    at = _put_varint(out, at, _zigzag(dy))
            if closed:
                out[at] = (1 << 3) | _CLOSE_PATH
                at += 1
            x_at, y_at = xy[last, 0], xy[last, 1]
        if opens[path]:
            part_written = line_to > 0
    return at


@compiled(types.Tuple((BYTES, INTS, INTS))(INTS, INTS, POINTS, INTS, INTS, BOOLS, INTS, POINTS))
def write_features(
    fids: np.ndarray,
    kinds: np.ndarray,
    codes: np.ndarray,
    classes: np.ndarray,
    owner: np.ndarray,
    opens: np.ndarray,
    vertex_starts: np.ndarray,
    xy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The layer's ``features`` fields, and its keys (field indexes) and values (codes), both in order of first
    use, as a writer fills its tables feature after feature. Per feature: ``fids``, ``kinds`` and ``codes``
    (its row of attribute codes); ``classes`` gives each code's value table entry (1 and 1.0 share one, written
    as the first code used); the paths as in ``TilePaths``."""
    n_features, n_fields = codes.shape
    path_start = np.full(n_features, -1, dtype=np.int64)
    path_count = np.zeros(n_features, dtype=np.int64)
    for path in range(len(owner) - 1, -1, -1):  # a feature's paths are consecutive
        path_start[owner[path]] = path
        path_count[owner[path]] += 1
    bound = 20 * len(xy) + 12 * len(owner) + (64 + 24 * n_fields) * n_features + 16
    out = np.empty(bound, dtype=np.uint8)
    geometry = np.empty(bound, dtype=np.uint8)
    tags = np.empty(2 * n_fields, dtype=np.int64)
    key_rank = np.full(n_fields, -1, dtype=np.int64)
    key_order = np.empty(n_fields, dtype=np.int64)
    value_order = np.empty(max(n_features * n_fields, 1), dtype=np.int64)
    value_rank = Dict.empty(key_type=types.int64, value_type=types.int64)
    n_keys = n_values = 0
    at = 0
    for feature in range(n_features):
        kind = kinds[feature]
        start = path_start[feature]
        if kind == 0 or start < 0:
            continue
        end = start + path_count[feature]
        geometry_bytes = _write_geometry(geometry, 0, owner, opens, vertex_starts, xy, start, end, kind)
        if geometry_bytes == 0:
            continue
        n_tags = tag_bytes = 0
        for field in range(n_fields):
            code = codes[feature, field]
            if code < 0:
                continue
            if key_rank[field] < 0:
                key_rank[field] = n_keys
                key_order[n_keys] = field
                n_keys += 1
            rank = value_rank.get(classes[code], -1)
            if rank < 0:
                rank = value_rank[classes[code]] = n_values
                value_order[n_values] = code
                n_values += 1
            tags[n_tags], tags[n_tags + 1] = key_rank[field], rank
            tag_bytes += _varint_size(key_rank[field]) + _varint_size(rank)
            n_tags += 2
        fid = fids[feature]
        head = 3 + _varint_size(geometry_bytes)  # type (key, value), geometry key and length
        if fid >= 0:  # a writer leaves a negative id out
            head += 1 + _varint_size(fid)
        if n_tags:
            head += 1 + _varint_size(tag_bytes) + tag_bytes
        out[at] = _LAYER_FEATURE
        at = _put_varint(out, at + 1, head + geometry_bytes)
        if fid >= 0:
            out[at] = _FEATURE_ID
            at = _put_varint(out, at + 1, fid)
        if n_tags:
            out[at] = _FEATURE_TAGS
            at = _put_varint(out, at + 1, tag_bytes)
            for tag in range(n_tags):
                at = _put_varint(out, at, tags[tag])
        out[at], out[at + 1], out[at + 2] = _FEATURE_TYPE, kind, _FEATURE_GEOMETRY
        at = _put_varint(out, at + 3, geometry_bytes)
        out[at : at + geometry_bytes] = geometry[:geometry_bytes]
        at += geometry_bytes
    return out[:at], key_order[:n_keys], value_order[:n_values]


def code_attributes(names: Sequence[str], columns: Mapping[str, Sequence[Any]], rows: int) -> AttributeCodes:
    """Code the named columns of a layer version (each ``rows`` long); values as the stores return them."""
    codes = np.full((rows, len(names)), -1, dtype=np.int64)
    by_value: dict[tuple[Any, ...], int] = {}
    by_class: dict[Any, int] = {}
    classes: list[int] = []
    entries: list[bytes] = []

    def code_of(value: Any) -> int:
        """The code of a value (-1: not written), made on its first occurrence."""
        key = _value_key(value)
        if key is None:
            return -1
        code = by_value.get(key)
        if code is None:
            code = by_value[key] = len(entries)
            # A NaN matches only itself (a distinct NaN object is a new entry, as in a dict).
            same = ("bool", value) if isinstance(value, bool) else value if value == value else ("nan", code)
            classes.append(by_class.setdefault(same, len(by_class)))
            entries.append(_value_entry(value))
        return code

    for j, name in enumerate(names):
        column = columns[name]
        kinds = set(map(type, column)) - {type(None)}
        distinct = dict.fromkeys(column) if len(kinds) == 1 and kinds <= {str, int, float} else None
        if distinct is not None and not (float in kinds and 0.0 in distinct):
            # One plain type (and no zero whose sign a dict would lose): code each distinct value once.
            code = {value: code_of(value) for value in distinct}
            code[None] = -1
            codes[:, j] = [code[value] for value in column]
        else:
            codes[:, j] = [code_of(value) for value in column]
    return AttributeCodes(
        names=tuple(names),
        codes=codes,
        classes=np.asarray(classes, dtype=np.int64),
        entries=tuple(entries),
        keys=tuple(_field(_LAYER_KEY, name.encode("utf-8")) for name in names),
    )


def _varint(value: int) -> bytes:
    """One unsigned value as a protobuf varint."""
    if value < len(_SMALL_VARINTS):
        return _SMALL_VARINTS[value]
    if value < 1 << 21:
        return bytes(((value & 0x7F) | 0x80, ((value >> 7) & 0x7F) | 0x80, value >> 14))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(key: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return bytes([key]) + _varint(len(payload)) + payload


def _value_key(value: Any) -> tuple[Any, ...] | None:
    """What tells coded values apart (None: the value is not written); -0.0 and 0.0 are written differently."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value) if value in _INT64 else None
    if isinstance(value, float):
        return ("float", value, math.copysign(1.0, value)) if value == value else ("nan", id(value))
    if isinstance(value, str):
        return ("str", value)
    return None


def _value_entry(value: bool | int | float | str) -> bytes:
    """The layer's ``values`` field for one value (a Value message: bool, int64, double or string)."""
    if isinstance(value, bool):
        message = _VALUE_BOOL + (b"\x01" if value else b"\x00")
    elif isinstance(value, int):
        message = _VALUE_INT + _varint(value & _UINT64)
    elif isinstance(value, float):
        message = _VALUE_DOUBLE + struct.pack("<d", value)
    else:
        encoded = value.encode("utf-8")
        message = _VALUE_STRING + _varint(len(encoded)) + encoded
    return _field(_LAYER_VALUE, message)
