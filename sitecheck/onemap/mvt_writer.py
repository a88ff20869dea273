"""Mapbox Vector Tile writing in numpy: geometry commands, tags, and the layer's key and value tables.

The bytes are exactly those the mapbox-vector-tile encoder writes for the same features (its command rules, its
value de-duplication, protobuf field order; ``tests/sitecheck/test_mvt_writer.py`` compares them), without its
cost of about 40 µs per feature in Python: a tile is a few dozen array operations whatever its size. Those cost
more than plain loops for a tile of few features (``FEW_FEATURES``), which is framed feature by feature then, its
paths path by path, their moves taken at once from a table of the varints of every move within a tile.

Geometries arrive in integer tile units as paths (rings of polygons, parts of lines, with their vertices) or
points; attributes arrive coded once per layer version (``code_attributes``), so a tile only gathers codes.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# MVT geometry types and commands (vector_tile.proto; specification 2.1, section 4.3).
POINT, LINESTRING, POLYGON = 1, 2, 3
_MOVE_TO, _LINE_TO, _CLOSE_PATH = 1, 2, 7
# Protobuf keys (field number << 3 | wire type) of the fields written here: all one byte.
_TILE_LAYER = 0x1A
_LAYER_NAME, _LAYER_FEATURE, _LAYER_KEY, _LAYER_VALUE, _LAYER_EXTENT = 0x0A, 0x12, 0x1A, 0x22, 0x28
_LAYER_VERSION_2 = b"\x78\x02"
_FEATURE_ID, _FEATURE_TAGS, _FEATURE_TYPE, _FEATURE_GEOMETRY = 0x08, 0x12, 0x18, 0x22
# A feature's type field and its geometry field's key, per geometry type.
_TYPE_THEN_GEOMETRY_KEY = tuple(bytes((_FEATURE_TYPE, kind, _FEATURE_GEOMETRY)) for kind in range(POLYGON + 1))
_LAYER_FEATURE_KEY, _FEATURE_ID_KEY, _FEATURE_TAGS_KEY = (
    bytes([_LAYER_FEATURE]),
    bytes([_FEATURE_ID]),
    bytes([_FEATURE_TAGS]),
)
_VALUE_STRING, _VALUE_DOUBLE, _VALUE_INT, _VALUE_BOOL = b"\x0a", b"\x19", b"\x20", b"\x38"
_UINT64 = (1 << 64) - 1
_INT64 = range(-(1 << 63), 1 << 63)
FEW_FEATURES = 100  # tiles with at most this many features are framed in Python
_VARINT_LIMITS = np.array([1 << shift for shift in range(7, 64, 7)], dtype=np.uint64)
# The varints (one or two bytes) of 0 to 2^14 - 1.
_SMALL_VARINTS = tuple(
    bytes([value]) if value < 0x80 else bytes([(value & 0x7F) | 0x80, value >> 7]) for value in range(1 << 14)
)
_MOVE_TO_ONE, _CLOSE_PATH_ONE = bytes([(1 << 3) | _MOVE_TO]), bytes([(1 << 3) | _CLOSE_PATH])
# The zig-zag varints (one or two bytes) of the moves from -2^13 to 2^13 - 1, indexed by the move itself (a
# negative one from the end): those of any tile, whose points lie within its buffered extent.
_MOVES = tuple(
    _SMALL_VARINTS[index << 1 if index < 1 << 13 else ((index - (1 << 14)) << 1) ^ -1] for index in range(1 << 14)
)
# The same as arrays, indexed alike: each varint's two bytes (the second 0 when it has one), and which of them
# are written (the bytes of a True and a False: a bool view of them).
_MOVE_BYTES = np.array([int.from_bytes(move.ljust(2, b"\0"), "little") for move in _MOVES], dtype="<u2")
_MOVE_WRITTEN = np.array([int.from_bytes(bytes((1, len(move) - 1)), "little") for move in _MOVES], dtype="<u2")


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


class Paths(NamedTuple):
    """Lines and polygon rings in integer tile units, grouped by feature (a feature's paths consecutive).

    ``xy`` holds every path's vertices (rings closed: their last point repeats the first), ``vertex_path`` the
    path of each vertex; per path, ``feature`` is the feature's position in the tile, ``opens_part`` marks a
    polygon's exterior ring (and every line) and ``closed`` a ring.
    """

    xy: np.ndarray
    vertex_path: np.ndarray
    feature: np.ndarray
    opens_part: np.ndarray
    closed: np.ndarray


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


def point_commands(xy: np.ndarray, feature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Commands of points (integer tile units; one feature's points consecutive): one MoveTo of all the points of
    a feature, repeated points kept. Returns the feature of each command and the commands."""
    deltas = _deltas(xy, run_starts(feature))
    owners, n_points = feature[run_starts(feature)], _run_lengths(feature)
    per_feature = 1 + 2 * n_points
    starts = per_feature.cumsum() - per_feature
    commands = np.empty(int(per_feature.sum()), dtype=np.uint64)
    commands[starts] = (n_points << 3) | _MOVE_TO
    position = starts.repeat(n_points) + 1 + 2 * _rank_in_run(feature)
    commands[position] = deltas[:, 0]
    commands[position + 1] = deltas[:, 1]
    return owners.repeat(per_feature), commands


def path_commands(paths: Paths) -> tuple[np.ndarray, np.ndarray]:
    """Commands of lines and rings. Returns the feature of each command and the commands.

    Coordinates are moves from the previous point written for the feature; a ring's closing point is not
    written (ClosePath is); a point repeating the previous one is dropped; a path left with no LineTo is dropped,
    and with its exterior ring the whole polygon (its holes too).
    """
    xy, vertex_path = paths.xy, paths.vertex_path
    closing = _run_ends(vertex_path) & paths.closed[vertex_path]
    xy, vertex_path = xy[~closing], vertex_path[~closing]
    repeated = np.zeros(len(xy), dtype=bool)
    repeated[1:] = (xy[1:] == xy[:-1]).all(axis=1)
    kept = run_starts(vertex_path) | ~repeated
    line_to = np.bincount(vertex_path[kept], minlength=len(paths.feature)) - 1
    written = line_to > 0
    exterior = np.maximum.accumulate(np.where(paths.opens_part, np.arange(len(written)), 0))
    written &= written[exterior]
    kept &= written[vertex_path]
    xy, vertex_path = xy[kept], vertex_path[kept]
    feature = paths.feature[vertex_path]
    deltas = _deltas(xy, run_starts(feature))
    shown = written.nonzero()[0]
    closed = paths.closed[shown]
    per_path = 2 * (line_to[shown] + 1) + np.where(closed, 3, 2)
    starts = per_path.cumsum() - per_path
    commands = np.empty(int(per_path.sum()), dtype=np.uint64)
    commands[starts] = (1 << 3) | _MOVE_TO
    commands[starts + 3] = (line_to[shown] << 3) | _LINE_TO
    commands[(starts + per_path - 1)[closed]] = (1 << 3) | _CLOSE_PATH
    rank = _rank_in_run(vertex_path)
    position = starts.repeat(line_to[shown] + 1) + np.where(rank == 0, 1, 2 * rank + 2)
    commands[position] = deltas[:, 0]
    commands[position + 1] = deltas[:, 1]
    return paths.feature[shown].repeat(per_path), commands


def path_geometries(paths: Paths) -> dict[int, bytes]:
    """The ``geometry`` fields (commands as varints) of lines and rings, per feature, by the rules of
    ``path_commands``: the moves within paths written at once from a table, each path framed in Python (for a
    tile of few features, cheaper than ``path_commands`` and ``_varints``). Every move must lie within the
    table (``moves_fit``)."""
    if not len(paths.xy):
        return {}
    moves, moves_before, bytes_before = _move_bytes(paths.xy)
    bounds = np.searchsorted(paths.vertex_path, np.arange(len(paths.feature) + 1))
    first = np.minimum(bounds[:-1], len(paths.xy) - 1)  # (an empty path has no point, and writes nothing)
    last = np.maximum(bounds[1:] - paths.closed - 1, first)  # a ring's closing point is not written
    # Per path: its feature, kind, first and last points written, and the bytes and moves of its other points.
    table = np.column_stack(
        (
            paths.feature,
            paths.opens_part,
            paths.closed,
            paths.xy[first],
            paths.xy[last],
            bytes_before[first],
            bytes_before[last],
            moves_before[last] - moves_before[first],
        )
    )
    geometries: dict[int, bytes] = {}
    encoded: list[bytes] = []
    current = -1
    at_x = at_y = 0
    part_written = False
    for feature, opens, closed, x, y, last_x, last_y, byte_start, byte_end, line_to in table.tolist():
        if feature != current:
            if encoded:
                geometries[current] = b"".join(encoded)
            current, at_x, at_y, encoded = feature, 0, 0, []
        if not opens and not part_written:
            continue  # a hole of a polygon whose exterior was dropped
        if line_to:
            encoded += (
                _MOVE_TO_ONE,
                _MOVES[x - at_x],
                _MOVES[y - at_y],
                _varint((line_to << 3) | _LINE_TO),
                moves[byte_start:byte_end],
            )
            if closed:
                encoded.append(_CLOSE_PATH_ONE)
            at_x, at_y = last_x, last_y  # the last point written, or one it repeats
        if opens:
            part_written = line_to > 0
    if encoded:
        geometries[current] = b"".join(encoded)
    return geometries


def moves_fit(paths: Paths) -> bool:
    """Whether every move between the points of the paths (and from 0, 0) has a varint in ``_MOVES``, as in
    any tile, whose points lie within its buffered extent."""
    low, high = int(paths.xy.min(initial=0)), int(paths.xy.max(initial=0))
    return high - low < len(_MOVES) // 2


def _move_bytes(xy: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray]:
    """The varints of the moves from each point to the next, x then y, a move of 0, 0 (to a repeated point)
    left out; and before each point, the moves and the bytes written so far."""
    steps = np.diff(xy, axis=0)
    moving = (steps[:, 0] | steps[:, 1]) != 0
    written = (_MOVE_WRITTEN[steps] * moving[:, None]).view(bool)  # per step: x's two bytes, then y's
    moves_before = np.zeros(len(xy), dtype=np.int64)
    np.cumsum(moving, out=moves_before[1:])
    bytes_before = np.zeros(written.size + 1, dtype=np.int64)
    np.cumsum(written.ravel(), out=bytes_before[1:])
    return _MOVE_BYTES[steps].view(np.uint8)[written].tobytes(), moves_before, bytes_before[:: written.shape[1]]


def command_geometries(owner: np.ndarray, commands: np.ndarray) -> dict[int, bytes]:
    """The ``geometry`` fields of features from their commands (``owner``: the feature of each command, one
    feature's commands consecutive)."""
    if not len(commands):
        return {}
    encoded = _varints(commands)
    firsts = np.flatnonzero(run_starts(owner))
    byte_at = np.concatenate([[0], _varint_sizes(commands).cumsum()])[np.append(firsts, len(owner))].tolist()
    return {
        feature: encoded[start:end]
        for feature, start, end in zip(owner[firsts].tolist(), byte_at[:-1], byte_at[1:], strict=True)
    }


def join_paths(groups: Sequence[Paths]) -> Paths:
    """Paths of disjoint sets of features, as one (one group as it is)."""
    if len(groups) == 1:
        return groups[0]
    offsets = np.cumsum([0, *(len(group.feature) for group in groups)])
    return Paths(
        xy=np.concatenate([group.xy for group in groups]),
        vertex_path=np.concatenate(
            [group.vertex_path + offset for group, offset in zip(groups, offsets[:-1], strict=True)]
        ),
        feature=np.concatenate([group.feature for group in groups]),
        opens_part=np.concatenate([group.opens_part for group in groups]),
        closed=np.concatenate([group.closed for group in groups]),
    )


def write_layer(
    name: str,
    extent: int,
    fids: np.ndarray,
    kinds: np.ndarray,
    paths: Sequence[Paths],
    points: Sequence[tuple[np.ndarray, np.ndarray]],
    attributes: AttributeCodes,
    rows: np.ndarray,
) -> bytes:
    """Write a tile of one layer. Per feature: its id, MVT geometry type and attribute row (in ``attributes``);
    ``paths`` are groups of lines and rings, each group of its own features, and ``points`` (feature of each
    command, commands) as ``point_commands`` returns. A feature left with no command is not written."""
    lines = join_paths(paths) if paths else None
    if len(fids) <= FEW_FEATURES and (lines is None or moves_fit(lines)):
        geometries = path_geometries(lines) if lines is not None else {}
        for owner, commands in points:
            geometries.update(command_geometries(owner, commands))
        features, keys, values = _few_features(fids, kinds, geometries, attributes, rows)
    else:
        pieces = [*points]
        if lines is not None:
            pieces.append(path_commands(lines))
        owner = np.concatenate([np.zeros(0, dtype=np.int64), *(feature for feature, _ in pieces)])
        commands = np.concatenate([np.zeros(0, dtype=np.uint64), *(c for _, c in pieces)])
        commands = commands[np.argsort(owner, kind="stable")]  # one piece per feature: whole runs move
        counts = np.bincount(owner, minlength=len(fids))
        drawn = counts.nonzero()[0]
        tags, tag_counts, key_fields, value_codes = _tags(attributes, rows[drawn])
        features = _feature_stream(fids[drawn], tag_counts, tags, kinds[drawn], counts[drawn], commands)
        keys, values = key_fields.tolist(), value_codes.tolist()
    layer = b"".join(
        [
            _field(_LAYER_NAME, name.encode("utf-8")),
            features,
            *map(attributes.keys.__getitem__, keys),
            *map(attributes.entries.__getitem__, values),
            bytes([_LAYER_EXTENT]) + _varint(extent),
            _LAYER_VERSION_2,
        ]
    )
    return _field(_TILE_LAYER, layer)


def _few_features(
    fids: np.ndarray,
    kinds: np.ndarray,
    geometries: Mapping[int, bytes],
    attributes: AttributeCodes,
    rows: np.ndarray,
) -> tuple[bytes, list[int], list[int]]:
    """The ``features`` fields of a tile with few features, framed feature by feature in Python (for a few, a
    loop costs less than the array operations of ``_tags`` and ``_feature_stream``), and the layer's keys (field
    indexes) and values (codes), both in order of first use. ``geometries``: the drawn features' geometry fields
    by position."""
    drawn = np.array(sorted(geometries), dtype=np.int64)
    codes = attributes.codes[rows[drawn]]
    present = codes >= 0
    feature_of, field = present.nonzero()  # row-major: features in order, fields in configured order
    used_codes = codes[feature_of, field]
    used, fields = used_codes.tolist(), field.tolist()
    # A value table entry serves the codes of one class (1 and 1.0, as a writer's dict); it is written as the
    # first code used, and both tables are in order of first use, as a writer fills them feature after feature:
    # each key and entry tagged with the varint of its place there.
    same = attributes.classes[used_codes].tolist()
    first_code = dict(zip(same[::-1], used[::-1], strict=True))
    value_tags = dict(zip(dict.fromkeys(same), _counting_varints(), strict=False))
    key_tags = dict(zip(dict.fromkeys(fields), _counting_varints(), strict=False))
    tags: list[bytes] = [b""] * (2 * len(used))  # the key and the value of each attribute
    tags[0::2] = map(key_tags.__getitem__, fields)
    tags[1::2] = map(value_tags.__getitem__, same)
    tag_ends = (2 * np.bincount(feature_of, minlength=len(drawn))).cumsum().tolist()
    features: list[bytes] = []
    start = 0
    for fid, kind, end, geometry in zip(
        fids[drawn].tolist(), kinds[drawn].tolist(), tag_ends, map(geometries.__getitem__, drawn.tolist()), strict=True
    ):
        packed = b"".join(tags[start:end])
        start = end
        head = b"".join(
            (
                _FEATURE_ID_KEY + _varint(fid) if fid >= 0 else b"",  # a writer leaves a negative id out
                _FEATURE_TAGS_KEY + _varint(len(packed)) + packed if packed else b"",
                _TYPE_THEN_GEOMETRY_KEY[kind],
                _varint(len(geometry)),
            )
        )
        features += (_LAYER_FEATURE_KEY, _varint(len(head) + len(geometry)), head, geometry)
    return b"".join(features), list(key_tags), list(map(first_code.__getitem__, value_tags))


def _counting_varints() -> Iterator[bytes]:
    """The varints of 0, 1, 2, … (from ``_SMALL_VARINTS`` while it lasts)."""
    return itertools.chain(_SMALL_VARINTS, map(_varint, itertools.count(len(_SMALL_VARINTS))))


def _tags(attributes: AttributeCodes, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tags of the written features, their count per feature, and the layer's keys (field indexes) and values
    (codes), both in order of first use, as a writer fills its tables feature after feature."""
    codes = attributes.codes[rows]
    present = codes >= 0
    feature, field = np.nonzero(present)  # row-major: features in order, fields in configured order
    used = codes[feature, field]
    key_first, key_index = _first_use_order(field)
    value_first, value_index = _first_use_order(attributes.classes[used])
    tags = np.empty(2 * len(used), dtype=np.uint64)
    tags[0::2] = key_index
    tags[1::2] = value_index
    # An entry serving several codes is written as the first one used (1 before 1.0: an int_value).
    return tags, 2 * present.sum(axis=1), field[key_first], used[value_first]


def _first_use_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each distinct value first occurs, in order of first occurrence, and each element's index among
    the distinct values in that order."""
    _, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return first[order], rank[inverse]


def _feature_stream(
    fids: np.ndarray,
    tag_counts: np.ndarray,
    tags: np.ndarray,
    kinds: np.ndarray,
    counts: np.ndarray,
    commands: np.ndarray,
) -> bytes:
    """The layer's ``features`` fields as one run of varints (the keys of every field here are one-byte varints)."""
    has_id = fids >= 0  # a writer leaves a negative id out
    ids = np.where(has_id, fids, 0)
    has_tags = tag_counts > 0
    tag_bytes = _run_sums(_varint_sizes(tags), tag_counts)
    geometry_bytes = _run_sums(_varint_sizes(commands), counts)
    feature_bytes = (
        np.where(has_id, 1 + _varint_sizes(ids), 0)
        + np.where(has_tags, 1 + _varint_sizes(tag_bytes) + tag_bytes, 0)
        + 2  # type: key and value
        + 1  # geometry: key (then its length and commands)
        + _varint_sizes(geometry_bytes)
        + geometry_bytes
    )
    tokens = 2 + 2 * has_id + np.where(has_tags, 2 + tag_counts, 0) + 4 + counts
    stream = np.empty(int(tokens.sum()), dtype=np.uint64)
    at = tokens.cumsum() - tokens
    at = _put(stream, at, _LAYER_FEATURE, feature_bytes)
    at[has_id] = _put(stream, at[has_id], _FEATURE_ID, ids[has_id])
    at[has_tags] = _put(stream, at[has_tags], _FEATURE_TAGS, tag_bytes[has_tags])
    at = _spread(stream, at, tag_counts, tags)
    at = _put(stream, at, _FEATURE_TYPE, kinds)
    at = _put(stream, at, _FEATURE_GEOMETRY, geometry_bytes)
    _spread(stream, at, counts, commands)
    return _varints(stream)


def _put(stream: np.ndarray, at: np.ndarray, key: int, values: np.ndarray) -> np.ndarray:
    """Write a key and a value at each position; return the positions after them."""
    stream[at] = key
    stream[at + 1] = values
    return at + 2


def _spread(stream: np.ndarray, at: np.ndarray, counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Write consecutive runs of ``values`` (``counts`` long), each from its position; return the positions
    after them."""
    stream[at.repeat(counts) + _rank_in_runs(counts)] = values
    return at + counts


def _run_sums(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sums of consecutive runs of ``counts`` elements."""
    running = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=running[1:])
    ends = counts.cumsum()
    return running[ends] - running[ends - counts]


def _deltas(xy: np.ndarray, first_of_feature: np.ndarray) -> np.ndarray:
    """Zig-zag encoded moves from the previous point of the same feature (from 0,0 for its first)."""
    previous = np.zeros_like(xy)
    previous[1:] = xy[:-1]
    previous[first_of_feature] = 0
    moves = xy - previous
    return ((moves << 1) ^ (moves >> 63)).astype(np.uint64)


def run_starts(ids: np.ndarray) -> np.ndarray:
    """True where a run of equal, consecutive ids begins."""
    starts = np.ones(len(ids), dtype=bool)
    starts[1:] = ids[1:] != ids[:-1]
    return starts


def _run_ends(ids: np.ndarray) -> np.ndarray:
    """True where a run of equal, consecutive ids ends."""
    ends = np.ones(len(ids), dtype=bool)
    ends[:-1] = ids[1:] != ids[:-1]
    return ends


def _run_lengths(ids: np.ndarray) -> np.ndarray:
    """Lengths of the runs of equal, consecutive ids."""
    return np.diff(np.flatnonzero(run_starts(ids)), append=len(ids))


def _rank_in_run(ids: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal, consecutive ids."""
    return _rank_in_runs(_run_lengths(ids))


def _rank_in_runs(counts: np.ndarray) -> np.ndarray:
    """0, 1, … within each of consecutive runs of ``counts`` elements."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(counts.cumsum() - counts, counts)


def _varint_sizes(values: np.ndarray) -> np.ndarray:
    """Bytes of each unsigned value as a protobuf varint."""
    return np.searchsorted(_VARINT_LIMITS, values.astype(np.uint64), side="right") + 1


def _varints(values: np.ndarray) -> bytes:
    """Unsigned values as consecutive protobuf varints."""
    remaining = _varint_sizes(values)
    ends = remaining.cumsum()
    out = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.uint8)
    at = ends - remaining
    values = values.astype(np.uint64)
    while len(values):  # one pass per byte position: 7 bits each, the high bit set when more follow
        low = (values & np.uint64(0x7F)).astype(np.uint8)
        more = remaining > 1
        out[at] = np.where(more, low | 0x80, low)
        values, remaining, at = values[more] >> np.uint64(7), remaining[more] - 1, at[more] + 1
    return out.tobytes()


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
