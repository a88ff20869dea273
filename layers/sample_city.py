"""Deterministic, seeded generator of the fictional sample city 示例市 and its check fixtures (EPSG:4528).

Every layer is drawn from its own random stream (``default_rng([seed, crc32(name)])``), so a layer is the same
whether or not the others are generated. Generated vertices are rounded to the millimetre before any overlay,
which keeps the output identical across CPUs whose libm differ in the last bit.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.ops import substring

CRS = "EPSG:4528"
MU_M2 = 2000 / 3
VERIFY_ZONE = (40_510_000.0, 3_524_000.0, 40_514_000.0, 3_528_000.0)
VERIFY_DEV_EAST_X = 40_513_000.0
V_CLEARANCE_M = 10.0  # generated red lines and farmland keep this far from V, so they do not even touch it
SLOPE_CELL_M = 30.0
SLOPE_ANCHOR = (40_474_990.0, 3_540_000.0)
SLOPE_NODATA = -9999.0
SLOPE_V_DEG, SLOPE_BLOCK_DEG = 3.0, 30.0
SLOPE_BLOCK = (40_510_000.0, 3_527_100.0, 40_510_900.0, 3_528_000.0)
VECTOR_KEYS = ("districts", "dev_boundary", "eco_redline", "farmland", "industrial_zone", "parcels", "transit")
LAYER_KEYS = (*VECTOR_KEYS, "slope")
DEFAULT_SEED = 20261122

_PARCEL_MIN_M2, _PARCEL_MAX_M2 = 20 * MU_M2, 300 * MU_M2
_DISTRICT_NAMES = (("990105", "高新区"), ("990102", "城关区"), ("990103", "湖滨区"), ("990104", "南山区"),
                   ("990106", "河西区"), ("990107", "北塘区"), ("990108", "东江区"), ("990109", "西岭区"))
_GHFQ = {"01": "集中建设区", "02": "弹性发展区", "03": "特别用途区"}
_GKCS = {
    "水源涵养": "严格保护水源涵养功能，禁止开发性、生产性建设活动；在符合法律法规前提下仅允许对生态功能不造成破坏的"
    "有限人为活动。",
    "生物多样性维护": "禁止开发性、生产性建设活动，维护重要物种栖息地和生态廊道，严禁侵占自然岸线和林地。",
    "水土保持": "禁止开发性、生产性建设活动，严禁陡坡开垦、采石取土，实施封山育林和水土保持综合治理。",
    "水土流失防治": "禁止开发性、生产性建设活动，严格控制地表扰动，开展小流域综合治理，防治水土流失。",
}
_HILLS = (
    "青螺", "凤凰", "云台", "狮子", "金鸡", "笔架", "紫金", "白云", "九峰", "翠屏",
    "龙泉", "玉屏", "天马", "鹰嘴", "卧龙", "莲花", "石门", "梅岭", "桃源", "香炉",
)
_LAKES = ("镜湖", "明湖", "碧波湖", "青龙湖", "白鹭湖", "月亮湖")
_RIVERS = ("清江", "白沙河", "柳溪", "长乐河", "金水河", "双溪", "桃花江", "沙河")
_SURNAMES = "李王张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_VILLAGE_SUFFIX = ("家村", "庄村", "湾村", "坝村", "营村", "店村", "桥村", "岗村")
_TOWNSHIPS = ("青林", "石桥", "白马", "新塘", "柳河", "龙泉", "安乐", "平安", "永兴", "长岭", "太平", "双河")
_PLACES = (
    "滨江", "东城", "西城", "南湖", "北岸", "金桥", "新港", "创新",
    "科技", "智谷", "临空", "望江", "青山", "翠湖", "云栖", "龙湾",
)
_INDUSTRIES = ("智能制造", "新能源汽车", "生物医药", "新材料", "电子信息", "高端装备", "节能环保")
_STATIONS = (
    "人民广场", "市民中心", "体育中心", "火车站", "湖滨路", "文化宫", "中山路", "解放路", "新华路", "科技馆",
    "大学城", "会展中心", "北门", "南门", "东门", "西门", "翠苑", "梅园", "桂园", "白鹭洲",
    "滨江公园", "万象城", "工业园", "软件园", "奥体中心", "图书馆", "人民医院", "凤凰路",
)
# 用地用海 codes of parcels with draw weights: 一/二/三类工业, 一/二类物流仓储, 零售商业.
_LAND_USES = (("100101", 0.38), ("100102", 0.32), ("100103", 0.10), ("110101", 0.09), ("110102", 0.08),
              ("090101", 0.03))
_PARCEL_STATUS = (("可招商", 0.5), ("储备", 0.25), ("已出让", 0.25))
_DLBM = (("0101", "水田"), ("0102", "水浇地"), ("0103", "旱地"))

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class ScaleSpec:
    """Sizes of one scale of the city: extent in EPSG:4528 metres and target feature counts."""

    extent: Bounds
    districts: int
    towns: int  # 集中建设区 polygons
    elastic: int  # 弹性发展区 polygons
    special: int  # 特别用途区 polygons
    town_radius_m: tuple[float, float]
    town_vertices: tuple[int, int]
    lakes: int
    rivers: int
    eco: int
    farmland: int
    zones: int
    parcels: int


SCALES = {
    "sample": ScaleSpec(extent=(40_475_000.0, 3_500_000.0, 40_515_000.0, 3_540_000.0), districts=5, towns=3,
                        elastic=1, special=1, town_radius_m=(3_500.0, 6_000.0), town_vertices=(1_500, 4_000),
                        lakes=1, rivers=2, eco=40, farmland=5_000, zones=20, parcels=600),
    "city": ScaleSpec(extent=(40_440_000.0, 3_470_000.0, 40_560_000.0, 3_590_000.0), districts=6, towns=14,
                      elastic=4, special=2, town_radius_m=(6_500.0, 10_000.0), town_vertices=(25_000, 80_000),
                      lakes=6, rivers=8, eco=3_000, farmland=200_000, zones=330, parcels=20_000),
}


@dataclass(frozen=True)
class _Town:
    """A development blob: centre, mean/min radius, its polygon and a coarse copy for spacing tests."""

    x: float
    y: float
    r: float
    r_min: float
    shape: shapely.Geometry
    coarse: shapely.Geometry
    code: str
    holes: tuple[shapely.Geometry, ...] = ()  # of a 集中建设区: a red-line hill first, then parks


@dataclass(frozen=True)
class _Hills:
    """Hills of the terrain: centres, mean radii and red-line polygons (town hills first)."""

    x: np.ndarray
    y: np.ndarray
    r: np.ndarray
    shapes: np.ndarray


@dataclass(frozen=True)
class _Zones:
    """Industrial zones: the local frame each was drawn in (for its parcels) and its polygon."""

    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray
    local: np.ndarray  # (n, 4): x0, y0, x1, y1 of the zone in its rotated frame, metres from (x, y)
    shapes: np.ndarray
    first_class: np.ndarray  # drawn wholly inside the 集中建设区: 一级控制线; partly: 二级控制线


# ----------------------------------------------------------------------------------------------- geometry helpers


def _radial_noise(rng: np.random.Generator, m: int, n: int, std: float, beta: float = 1.3) -> np.ndarray:
    """(m, n) smooth periodic noise with a power-law spectrum, each row scaled to the given std."""
    k = np.arange(n // 2 + 1, dtype=float)
    amp = np.zeros_like(k)
    amp[2:] = k[2:] ** -beta
    spec = amp * (rng.standard_normal((m, k.size)) + 1j * rng.standard_normal((m, k.size)))
    noise = np.fft.irfft(spec, n=n, axis=1)
    return noise * (std / noise.std(axis=1, keepdims=True))


def _stars(x: Any, y: Any, r: Any, noise: np.ndarray) -> np.ndarray:
    """Star-shaped, hence simple, polygons r·exp(noise(θ)) around (x, y), vertices rounded to the millimetre."""
    theta = np.arange(noise.shape[1]) * (2 * np.pi / noise.shape[1])
    radius = np.asarray(r, dtype=float).reshape(-1, 1) * np.exp(noise)
    xs = np.asarray(x, dtype=float).reshape(-1, 1) + radius * np.cos(theta)
    ys = np.asarray(y, dtype=float).reshape(-1, 1) + radius * np.sin(theta)
    return shapely.polygons(np.round(np.stack([xs, ys], axis=-1), 3))


def _rotated_rects(cx: Any, cy: Any, angle: Any, local: np.ndarray) -> np.ndarray:
    """Rectangles given in a frame rotated by angle (radians) about (cx, cy), as world polygons (mm-rounded)."""
    lx0, ly0, lx1, ly1 = (local[:, i] for i in range(4))
    lx = np.stack([lx0, lx1, lx1, lx0], axis=1)
    ly = np.stack([ly0, ly0, ly1, ly1], axis=1)
    return _frame_polygons(cx, cy, angle, lx, ly)


def _frame_polygons(cx: Any, cy: Any, angle: Any, lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Polygons from local vertex arrays (n, k) rotated by angle about (cx, cy), mm-rounded."""
    cos, sin = np.cos(angle).reshape(-1, 1), np.sin(angle).reshape(-1, 1)
    xs = np.asarray(cx, dtype=float).reshape(-1, 1) + lx * cos - ly * sin
    ys = np.asarray(cy, dtype=float).reshape(-1, 1) + lx * sin + ly * cos
    return shapely.polygons(np.round(np.stack([xs, ys], axis=-1), 3))


def _subdivide(geom: shapely.Geometry, max_vertices: int = 256, depth: int = 0) -> list[shapely.Geometry]:
    """Cut a polygonal geometry into pieces of at most max_vertices vertices by halving (like ST_Subdivide)."""
    if geom.is_empty:
        return []
    if shapely.get_num_coordinates(geom) <= max_vertices or depth >= 30:
        return [geom]
    x0, y0, x1, y1 = geom.bounds
    if x1 - x0 >= y1 - y0:
        halves = (shapely.box(x0, y0, (x0 + x1) / 2, y1), shapely.box((x0 + x1) / 2, y0, x1, y1))
    else:
        halves = (shapely.box(x0, y0, x1, (y0 + y1) / 2), shapely.box(x0, (y0 + y1) / 2, x1, y1))
    return [p for half in halves for p in _subdivide(shapely.intersection(geom, half), max_vertices, depth + 1)]


def _subtract(geoms: np.ndarray, cutters: np.ndarray) -> np.ndarray:
    """Each geometry minus every cutter it intersects, vectorised in rounds (cutters should be small pieces)."""
    out = np.array(geoms, dtype=object)
    if not len(out) or not len(cutters):
        return out
    gi, ci = shapely.STRtree(cutters).query(out, predicate="intersects")
    order = np.lexsort((ci, gi))
    gi, ci = gi[order], ci[order]
    while gi.size:
        first = np.r_[True, gi[1:] != gi[:-1]]
        out[gi[first]] = shapely.difference(out[gi[first]], cutters[ci[first]])
        gi, ci = gi[~first], ci[~first]
    return out


def _to_multi(geoms: np.ndarray, min_part_m2: float = 0.0, min_width_m: float = 0.0) -> np.ndarray:
    """Polygonal geometries as MultiPolygons without parts under min_part_m2 or thinner than min_width_m (2A/P)."""
    parts, idx = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
    area = shapely.area(parts)
    keep = (shapely.get_type_id(parts) == 3) & (area > min_part_m2)
    keep &= 2 * area >= min_width_m * shapely.length(parts)
    out = np.array([shapely.MultiPolygon()] * len(geoms), dtype=object)
    owners = np.unique(idx[keep])
    out[owners] = shapely.multipolygons(parts[keep], indices=np.searchsorted(owners, idx[keep]))
    return out


def _largest_part(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygon of largest area in a polygonal geometry."""
    parts = shapely.get_parts(geom)
    return parts[int(np.argmax(shapely.area(parts)))]


def _hits(geoms: np.ndarray, others: np.ndarray, distance_m: float = 0.0) -> np.ndarray:
    """Mask of geoms lying within distance_m of (or intersecting) any of others."""
    mask = np.zeros(len(geoms), dtype=bool)
    if len(others) and len(geoms):
        tree = shapely.STRtree(others)
        if distance_m > 0:
            idx, _ = tree.query(geoms, predicate="dwithin", distance=distance_m)
        else:
            idx, _ = tree.query(geoms, predicate="intersects")
        mask[idx] = True
    return mask


def _area_inside(geoms: np.ndarray, pieces: np.ndarray) -> np.ndarray:
    """Area (m²) of each geometry inside the union of non-overlapping pieces."""
    if not len(pieces):
        return np.zeros(len(geoms))
    gi, pi = shapely.STRtree(pieces).query(geoms, predicate="intersects")
    area = shapely.area(shapely.intersection(geoms[gi], pieces[pi]))
    return np.bincount(gi, weights=area, minlength=len(geoms))


def _smooth_field(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, wavelength_m: tuple[float, float],
                  waves: int = 12) -> np.ndarray:
    """A smooth random field (sum of plane waves) at points (x, y), roughly in [-1, 1]."""
    lam = rng.uniform(*wavelength_m, waves)
    direction = rng.uniform(0, np.pi, waves)
    phase = rng.uniform(0, 2 * np.pi, waves)
    kx, ky = 2 * np.pi / lam * np.cos(direction), 2 * np.pi / lam * np.sin(direction)
    xr, yr = x - SLOPE_ANCHOR[0], y - SLOPE_ANCHOR[1]  # a fixed origin keeps the field independent of the points
    total = sum(np.cos(kx[i] * xr + ky[i] * yr + phase[i]) for i in range(waves))
    return np.asarray(total) / math.sqrt(waves / 2)


def _meander(rng: np.random.Generator, start: tuple[float, float], heading: float, length_m: float, *,
             step_m: float, turn_rad: float, smooth_m: float) -> np.ndarray:
    """Coordinates of a smooth random walk (river or road centre line): heading ± turn_rad, correlated over smooth_m."""
    n = int(length_m / step_m)
    kernel = np.exp(-np.arange(int(4 * smooth_m / step_m)) * step_m / smooth_m)
    turn = np.convolve(rng.standard_normal(n), kernel * (turn_rad / np.sqrt((kernel**2).sum())))[:n]
    steps = step_m * np.stack([np.cos(heading + turn), np.sin(heading + turn)], axis=1)
    return np.round(np.asarray(start) + np.cumsum(steps, axis=0), 3)


def _wiggle(rng: np.random.Generator, line: shapely.LineString, spacing_m: float = 150.0) -> shapely.LineString:
    """A straight two-point line made wavy; its end points stay put so a network of such lines stays noded."""
    (xa, ya), (xb, yb) = np.asarray(line.coords)[[0, -1]]
    length = math.hypot(xb - xa, yb - ya)
    t = np.linspace(0.0, 1.0, max(2, int(length / spacing_m)) + 1)
    j = np.arange(1, 7)
    amp = rng.standard_normal(6) * min(0.025 * length, 800.0) / j
    offset = (amp[:, None] * np.sin(np.pi * j[:, None] * t)).sum(axis=0)
    nx, ny = -(yb - ya) / length, (xb - xa) / length
    xs, ys = xa + t * (xb - xa) + offset * nx, ya + t * (yb - ya) + offset * ny
    xs[[0, -1]], ys[[0, -1]] = (xa, xb), (ya, yb)
    return shapely.LineString(np.round(np.stack([xs, ys], axis=1), 3))


def _pick(rng: np.random.Generator, options: Sequence[tuple[str, float]], n: int) -> np.ndarray:
    """n draws from (value, weight) options."""
    values, weights = zip(*options, strict=True)
    p = np.asarray(weights) / sum(weights)
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p)]


def _greedy_disjoint(geoms: np.ndarray, gap_m: float) -> np.ndarray:
    """Indices of an order-preserving greedy subset of geoms no two of which come within gap_m."""
    a, b = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=gap_m)
    earlier = b < a
    a, b = a[earlier], b[earlier]
    order = np.argsort(a, kind="stable")
    a, b = a[order], b[order]
    starts = np.searchsorted(a, np.arange(len(geoms) + 1))
    taken = np.zeros(len(geoms), dtype=bool)
    for i in range(len(geoms)):
        taken[i] = not taken[b[starts[i]:starts[i + 1]]].any()
    return np.flatnonzero(taken)


def _distance_to_v(x: float, y: float) -> float:
    """Distance (m) from a point to the verification zone V."""
    vx0, vy0, vx1, vy1 = VERIFY_ZONE
    return math.hypot(max(vx0 - x, 0.0, x - vx1), max(vy0 - y, 0.0, y - vy1))


def _slope_grid(extent: Bounds) -> tuple[float, float, int, int]:
    """Origin (top-left x, y) and width, height in 30 m cells of the slope raster covering extent."""
    ax, ay = SLOPE_ANCHOR
    x0 = ax - SLOPE_CELL_M * math.ceil((ax - extent[0]) / SLOPE_CELL_M)
    y0 = ay + SLOPE_CELL_M * math.ceil((extent[3] - ay) / SLOPE_CELL_M)
    width = math.ceil((extent[2] - x0) / SLOPE_CELL_M)
    height = math.ceil((y0 - extent[1]) / SLOPE_CELL_M)
    return x0, y0, width, height


# ----------------------------------------------------------------------------------------------------- the city


class _City:
    """The generated city; each layer is built lazily on first use, from its own random stream."""

    def __init__(self, spec: ScaleSpec, seed: int) -> None:
        self.spec, self.seed = spec, seed
        self.box = shapely.box(*spec.extent)
        self.v_box = shapely.box(*VERIFY_ZONE)
        self.v_clear = shapely.buffer(self.v_box, V_CLEARANCE_M, join_style="mitre")

    def _rng(self, stream: str) -> np.random.Generator:
        """The random stream of one part of the city, independent of the order parts are built in."""
        return np.random.default_rng([self.seed, zlib.crc32(stream.encode())])

    # ---- development boundary -------------------------------------------------------------------------------

    def _town_fits(self, coarse: shapely.Geometry, towns: list[_Town], skip: int = -1,
                   min_inside: float = 0.85) -> bool:
        """Whether a coarse town outline is mostly in the extent, clear of V and of the other towns."""
        if shapely.area(shapely.intersection(coarse, self.box)) < min_inside * coarse.area:
            return False
        if shapely.dwithin(coarse, self.v_box, 2_000.0):
            return False
        return not any(shapely.dwithin(coarse, t.coarse, 1_500.0) for i, t in enumerate(towns) if i != skip)

    def _blob(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Log-radius noise of a town outline at full and at coarse (≤ 512 vertices) resolution."""
        n = int(rng.integers(*self.spec.town_vertices))
        noise = _radial_noise(rng, 1, n, 0.15, beta=1.6)
        return noise, noise[:, :: max(1, n // 512)]

    @cached_property
    def towns(self) -> list[_Town]:
        """集中建设区 blobs (town 0 borders V, town 1 is the main city), 特别用途区 blobs, then 弹性发展区 ones."""
        spec, rng = self.spec, self._rng("towns")
        lo, hi = spec.town_radius_m
        x0, y0, x1, y1 = spec.extent
        vx0, vy0, vx1, vy1 = VERIFY_ZONE
        noise, coarse = self._blob(rng)
        cx = vx0 - 0.55 * lo
        r0 = min(lo, (vx1 - 300.0 - cx) / math.exp(noise.max()))
        towns = [self._town(cx, (vy0 + vy1) / 2, r0, noise, coarse, "01")]
        radii = [hi, *rng.uniform(lo, 0.8 * hi, spec.towns - 2)]
        codes = ["01"] * len(radii) + ["03"] * spec.special
        radii += list(rng.uniform(0.35 * lo, 0.5 * lo, spec.special))
        for r, code in zip(radii, codes, strict=True):
            noise, coarse = self._blob(rng)
            for _ in range(20_000):
                x, y = rng.uniform(x0 + 0.5 * r, x1 - 0.5 * r), rng.uniform(y0 + 0.5 * r, y1 - 0.5 * r)
                if self._town_fits(_stars(x, y, r, coarse)[0], towns):
                    towns.append(self._town(x, y, r, noise, coarse, code))
                    break
            else:
                raise RuntimeError(f"no room for a town of radius {r:.0f} m in extent {spec.extent}")
        for k in range(spec.elastic):
            towns.append(self._elastic(rng, towns, 1 + k % (spec.towns - 1)))
        return [self._with_holes(rng, i, t) for i, t in enumerate(towns)]

    def _town(self, x: float, y: float, r: float, noise: np.ndarray, coarse: np.ndarray, code: str) -> _Town:
        """A town blob from its centre, radius and outline noise."""
        return _Town(x=x, y=y, r=r, r_min=r * math.exp(noise.min()), shape=_stars(x, y, r, noise)[0],
                     coarse=_stars(x, y, r, coarse)[0], code=code)

    def _elastic(self, rng: np.random.Generator, towns: list[_Town], parent: int) -> _Town:
        """A 弹性发展区 blob grown out of the edge of a parent town (sharing its boundary)."""
        host = towns[parent]
        r = 0.4 * host.r
        noise, coarse = self._blob(rng)
        for _ in range(2_000):
            a = rng.uniform(0, 2 * np.pi)
            far = (host.x + 3 * host.r * math.cos(a), host.y + 3 * host.r * math.sin(a))
            ray = shapely.LineString([(host.x, host.y), far])
            crossings = shapely.get_coordinates(shapely.intersection(ray, host.coarse.exterior))
            edge = max(math.dist((host.x, host.y), p) for p in crossings)
            x, y = host.x + (edge + 0.2 * r) * math.cos(a), host.y + (edge + 0.2 * r) * math.sin(a)
            blob = _stars(x, y, r, coarse)[0]
            if self._town_fits(blob, towns, skip=parent, min_inside=0.6):
                town = self._town(x, y, r, noise, coarse, "02")
                shape = _largest_part(shapely.difference(town.shape, host.shape))
                return replace(town, shape=shape, coarse=shapely.difference(blob, host.coarse))
        raise RuntimeError(f"no room for an elastic zone beside town {parent}")

    def _with_holes(self, rng: np.random.Generator, i: int, town: _Town) -> _Town:
        """A 集中建设区 town with a red-line hill inside (a hole); the main city also gets a park hole."""
        if town.code != "01":
            return town
        holes: list[shapely.Geometry] = []
        for _ in range(2 if i == 1 else 1):
            for _ in range(200):
                r = rng.uniform(0.08, 0.12) * town.r
                noise = _radial_noise(rng, 1, 400, 0.12, beta=2.0)
                d = rng.uniform(0.25, 0.55) * town.r_min
                a = rng.uniform(0, 2 * np.pi)
                x, y = town.x + d * math.cos(a), town.y + d * math.sin(a)
                reach = r * math.exp(noise.max())
                if d + reach > 0.85 * town.r_min or _distance_to_v(x, y) < reach + 500.0:
                    continue
                hole = _stars(x, y, r, noise)[0]
                if not any(shapely.dwithin(hole, h, 300.0) for h in holes):
                    holes.append(hole)
                    break
        return replace(town, holes=tuple(holes))

    @cached_property
    def dev_shapes(self) -> np.ndarray:
        """Final 城镇开发边界 polygons (one per town): holes cut, clipped to the extent, V fixed as specified."""
        vx0, vy0, _, vy1 = VERIFY_ZONE
        v_west = shapely.box(vx0, vy0, VERIFY_DEV_EAST_X, vy1)
        shapes = []
        for i, town in enumerate(self.towns):
            shape = shapely.difference(shapely.intersection(town.shape, self.box), self.v_box)
            if town.holes:
                shape = shapely.difference(shape, shapely.union_all(town.holes))
            if i == 0:
                shape = shapely.union(shape, v_west)
            shapes.append(shape)
        return _to_multi(np.asarray(shapes, dtype=object))

    @cached_property
    def dev_pieces(self) -> tuple[np.ndarray, np.ndarray]:
        """The development boundary cut into ≤ 256-vertex pieces, and the town index of each piece."""
        pieces, owner = [], []
        for i, shape in enumerate(self.dev_shapes):
            parts = _subdivide(shape)
            pieces += parts
            owner += [i] * len(parts)
        return np.asarray(pieces, dtype=object), np.asarray(owner, dtype=int)

    @cached_property
    def core_pieces(self) -> np.ndarray:
        """Pieces of the 集中建设区 (GHFQDM 01) polygons only."""
        pieces, owner = self.dev_pieces
        codes = np.asarray([t.code for t in self.towns])
        return pieces[codes[owner] == "01"]

    @cached_property
    def dev_boundary(self) -> gpd.GeoDataFrame:
        """城镇开发边界 layer."""
        shapes = self.dev_shapes
        codes = [t.code for t in self.towns]
        points = shapely.point_on_surface(shapes)
        return _frame({
            "BSM": [f"KFBJ{i + 1:04d}" for i in range(len(shapes))],
            "GHFQDM": codes,
            "GHFQMC": [_GHFQ[c] for c in codes],
            "XZQDM": self._district_codes(shapely.get_x(points), shapely.get_y(points)),
        }, shapes)

    # ---- ecology ---------------------------------------------------------------------------------------------

    @cached_property
    def lakes(self) -> list[shapely.Geometry]:
        """Lakes with their shore belt (one red-line zone each), clear of towns and V."""
        spec, rng = self.spec, self._rng("lakes")
        x0, y0, x1, y1 = spec.extent
        lakes: list[shapely.Geometry] = []
        towns = np.asarray([t.coarse for t in self.towns], dtype=object)
        for _ in range(spec.lakes):
            r = rng.uniform(1_800.0, 2_800.0)
            noise = _radial_noise(rng, 1, 720, 0.15, beta=2.0)
            reach = r * math.exp(noise.max())
            for _ in range(20_000):
                x, y = rng.uniform(x0 + reach, x1 - reach), rng.uniform(y0 + reach, y1 - reach)
                lake = _stars(x, y, r, noise)
                if _distance_to_v(x, y) > reach + 1_000.0 and not _hits(lake, towns, 1_000.0)[0] and not any(
                        shapely.dwithin(lake[0], other, 2_000.0) for other in lakes):
                    lakes.append(lake[0])
                    break
            else:
                raise RuntimeError("no room for a lake")
        return lakes

    @cached_property
    def rivers(self) -> list[shapely.LineString]:
        """River centre lines crossing the extent (alternately west→east and north→south)."""
        spec, rng = self.spec, self._rng("rivers")
        x0, y0, x1, y1 = spec.extent
        w, h = x1 - x0, y1 - y0
        lines = []
        for i in range(spec.rivers):
            u = rng.uniform(0.2, 0.8)
            start, heading = [((x0, y0 + u * h), 0.0), ((x0 + u * w, y1), -np.pi / 2),
                              ((x1, y0 + u * h), np.pi), ((x0 + u * w, y0), np.pi / 2)][i % 4]
            coords = _meander(rng, start, heading, 1.6 * max(w, h), step_m=25.0, turn_rad=0.55, smooth_m=1_250.0)
            line = shapely.intersection(shapely.LineString(coords), self.box)
            lines.append(_longest_line(line))
        return lines

    @cached_property
    def river_channels(self) -> np.ndarray:
        """The water channels (20 m either side of each centre line), in small pieces."""
        return np.asarray([p for line in self.rivers for p in _subdivide(line.buffer(20.0, quad_segs=4))],
                          dtype=object)

    @cached_property
    def corridors(self) -> tuple[np.ndarray, list[str]]:
        """River-corridor red-line segments (gaps between them, none inside towns or lakes) and river names."""
        rng = self._rng("corridors")
        segments, names = [], []
        earlier: list[shapely.Geometry] = []
        for i, line in enumerate(self.rivers):
            half_width = rng.uniform(90.0, 160.0)
            pos = rng.uniform(0.0, 1_000.0)
            pieces = []
            while pos < line.length - 500.0:
                seg_len = rng.uniform(1_800.0, 3_800.0)
                part = substring(line, pos, pos + seg_len)
                pieces.append(shapely.buffer(part, half_width, cap_style="flat", quad_segs=4))
                pos += seg_len + rng.uniform(300.0, 900.0)
            cutters = np.asarray([*self.dev_pieces[0], *self.lakes, self.v_clear, *earlier], dtype=object)
            kept = _to_multi(_subtract(np.asarray(pieces, dtype=object), cutters), 5_000.0, 40.0)
            kept = kept[shapely.area(kept) >= 150_000.0]
            segments += list(kept)
            names += [_RIVERS[i % len(_RIVERS)]] * len(kept)
            earlier += _subdivide(line.buffer(half_width + 30.0, quad_segs=4))
        return np.asarray(segments, dtype=object), names

    @cached_property
    def hills(self) -> _Hills:
        """Hills: one inside each 集中建设区 (a hole in it), then disjoint hills of varied size outside towns."""
        spec, rng = self.spec, self._rng("hills")
        holes = [t.holes[0] for t in self.towns if t.holes]
        hx, hy = shapely.get_x(shapely.centroid(holes)), shapely.get_y(shapely.centroid(holes))
        hr = np.sqrt(shapely.area(holes) / math.pi)
        wanted = spec.eco - 4 * spec.lakes - len(self.corridors[0]) - len(holes)
        x0, y0, x1, y1 = spec.extent
        free = (x1 - x0) * (y1 - y0) - sum(t.shape.area for t in self.towns) - sum(a.area for a in self.lakes)
        spacing = math.sqrt(free * 0.45 / max(wanted, 1))
        m = 4 * wanted + 20
        cx, cy = rng.uniform(x0, x1, m), rng.uniform(y0, y1, m)
        reach = spacing * np.exp(rng.uniform(math.log(0.12), math.log(0.42), m))
        circles = shapely.buffer(shapely.points(cx, cy), reach, quad_segs=8)
        blocked = _hits(circles, np.asarray([t.coarse for t in self.towns], dtype=object), 400.0)
        blocked |= _hits(circles, np.asarray([*self.lakes, *self.corridors[0]], dtype=object), 300.0)
        blocked |= _hits(circles, np.asarray([self.v_box], dtype=object), 500.0)
        score = _smooth_field(rng, cx, cy, (0.15 * (x1 - x0), 0.5 * (x1 - x0))) + rng.uniform(0, 0.6, m)
        order = np.argsort(-score, kind="stable")
        order = order[~blocked[order]]
        chosen = np.sort(order[_greedy_disjoint(circles[order], 200.0)][:wanted])
        noise = _radial_noise(rng, len(chosen), 400, 0.2, beta=2.0)
        r = reach[chosen] / np.exp(noise.max(axis=1))
        shapes = shapely.intersection(_stars(cx[chosen], cy[chosen], r, noise), self.box)
        return _Hills(x=np.r_[hx, cx[chosen]], y=np.r_[hy, cy[chosen]], r=np.r_[hr, r],
                      shapes=np.asarray([*holes, *shapes], dtype=object))

    @cached_property
    def eco_shapes(self) -> np.ndarray:
        """All random red-line polygons (lake sectors, river corridors, hills), V removed."""
        return self.eco_features[0]

    @cached_property
    def eco_features(self) -> tuple[np.ndarray, list[str], list[str]]:
        """Random red-line polygons with their types and names."""
        rng = self._rng("eco")
        shapes: list[shapely.Geometry] = []
        kinds: list[str] = []
        names: list[str] = []
        for i, lake in enumerate(self.lakes):
            c = lake.centroid
            for j, side in enumerate("东北西南"):
                a = np.pi / 4 + j * np.pi / 2 + np.linspace(-np.pi / 4, np.pi / 4, 9)
                wedge = shapely.Polygon([(c.x, c.y), *zip(c.x + 2e4 * np.cos(a), c.y + 2e4 * np.sin(a), strict=True)])
                shapes.append(shapely.intersection(lake, wedge))
                kinds.append("水源涵养")
                names.append(f"{_LAKES[i % len(_LAKES)]}{side}片水源涵养生态保护红线")
        corridors, rivers = self.corridors
        river_kinds = _pick(rng, (("生物多样性维护", 0.5), ("水源涵养", 0.5)), len(corridors))
        shapes += list(corridors)
        kinds += list(river_kinds)
        names += [f"{river}{kind}生态保护红线" for river, kind in zip(rivers, river_kinds, strict=True)]
        hill_kinds = _pick(rng, (("水土保持", 0.45), ("水土流失防治", 0.25), ("生物多样性维护", 0.3)),
                           len(self.hills.shapes))
        hill_names = rng.integers(0, len(_HILLS), len(self.hills.shapes))
        shapes += list(self.hills.shapes)
        kinds += list(hill_kinds)
        names += [f"{_HILLS[n]}山{kind}生态保护红线" for n, kind in zip(hill_names, hill_kinds, strict=True)]
        cut = _to_multi(_subtract(np.asarray(shapes, dtype=object), np.asarray([self.v_clear])), 1_000.0)
        keep = ~shapely.is_empty(cut)
        return cut[keep], list(np.asarray(kinds)[keep]), list(np.asarray(names)[keep])

    @cached_property
    def eco_redline(self) -> gpd.GeoDataFrame:
        """生态保护红线 layer (the fixture first)."""
        shapes, kinds, names = self.eco_features
        fixture = shapely.box(40_512_000.0, 3_526_500.0, 40_514_000.0, 3_528_000.0)
        geoms = _to_multi(np.asarray([fixture, *shapes], dtype=object))
        kinds = ["水源涵养", *kinds]
        return _frame({
            "HXBM": ["FX-HX-01", *(f"990100-ST-{i + 1:04d}" for i in range(len(shapes)))],
            "HXMC": ["校验生态红线", *names],
            "HXLX": kinds,
            "MJ": np.round(shapely.area(geoms) / 10_000.0, 4),
            "GKCS": [_GKCS[k] for k in kinds],
        }, geoms)

    # ---- farmland --------------------------------------------------------------------------------------------

    @cached_property
    def farmland(self) -> gpd.GeoDataFrame:
        """永久基本农田 layer: field patches on a grid in the open country, a few villages as holes."""
        spec, rng = self.spec, self._rng("farmland")
        x0, y0, x1, y1 = spec.extent
        dev_pieces = self.dev_pieces[0]
        eco = self.eco_shapes
        free = self.box.area - shapely.area(self.dev_shapes).sum() - shapely.area(eco).sum()
        cell = max(60.0, round(math.sqrt(free / (1.5 * spec.farmland)), -1))
        gx, gy = np.meshgrid(np.arange(x0, x1 - cell + 1e-6, cell), np.arange(y0, y1 - cell + 1e-6, cell))
        gx, gy = gx.ravel(), gy.ravel()
        centres = shapely.points(gx + cell / 2, gy + cell / 2)
        blocked = _hits(centres, np.asarray([*eco, self.v_box], dtype=object))
        in_dev = _hits(centres, dev_pieces)
        legacy = in_dev & (rng.random(gx.size) < 0.02)
        score = _smooth_field(rng, gx, gy, (4_000.0, 14_000.0)) + rng.uniform(0, 0.8, gx.size)
        score[blocked | (in_dev & ~legacy)] = -np.inf
        n = min(spec.farmland, int(np.isfinite(score).sum()))
        chosen = np.sort(np.argsort(-score, kind="stable")[:n])
        patches = _field_patches(rng, gx[chosen], gy[chosen], cell)
        hard = np.asarray([*eco, *self.river_channels, self.v_clear], dtype=object)
        patches = _subtract(patches, hard)
        soft = ~legacy[chosen]
        patches[soft] = _subtract(patches[soft], dev_pieces)
        patches = _to_multi(patches, 100.0, 4.0)
        keep = shapely.area(patches) >= 600.0
        patches = patches[keep]
        points = shapely.point_on_surface(patches)
        px, py = shapely.get_x(points), shapely.get_y(points)
        land = _smooth_field(rng, px, py, (3_000.0, 9_000.0))
        kind = np.digitize(land, np.quantile(land, [0.45, 0.65]))
        codes = self._district_codes(px, py)
        serial = pd.Series(codes).groupby(codes).cumcount().to_numpy() + 1
        fixture = shapely.box(40_513_200.0, 3_524_000.0, 40_514_000.0, 3_525_000.0)
        geoms = _to_multi(np.asarray([fixture, *patches], dtype=object))
        return _frame({
            "YJJBNTTBBH": ["FX-NT-01", *(f"{c}{s:07d}" for c, s in zip(codes, serial, strict=True))],
            "DLBM": ["0101", *(_DLBM[k][0] for k in kind)],
            "DLMC": ["水田", *(_DLBM[k][1] for k in kind)],
            "YJJBNTMJ": np.round(shapely.area(geoms), 2),
            "ZLDWMC": ["校验村", *self._village_names(px, py)],
        }, geoms)

    def _village_names(self, x: np.ndarray, y: np.ndarray) -> list[str]:
        """坐落单位名称 (township + village) of points: villages on a 2 km grid, townships on an 8 km grid."""
        rng = self._rng("villages")
        x0, y0, x1, y1 = self.spec.extent
        nvx, nvy = int((x1 - x0) // 2_000) + 1, int((y1 - y0) // 2_000) + 1
        surname = rng.integers(0, len(_SURNAMES), (nvy, nvx))
        suffix = rng.integers(0, len(_VILLAGE_SUFFIX), (nvy, nvx))
        township = rng.integers(0, len(_TOWNSHIPS), (nvy // 4 + 1, nvx // 4 + 1))
        ix, iy = ((x - x0) // 2_000).astype(int), ((y - y0) // 2_000).astype(int)
        return [f"{_TOWNSHIPS[township[j // 4, i // 4]]}镇{_SURNAMES[surname[j, i]]}{_VILLAGE_SUFFIX[suffix[j, i]]}"
                for i, j in zip(ix, iy, strict=True)]

    # ---- industrial zones and parcels ------------------------------------------------------------------------

    @cached_property
    def zones(self) -> _Zones:
        """产业区块 on a jittered 2.6 × 1.8 km grid inside the 集中建设区 (a tenth of them only half inside)."""
        spec, rng = self.spec, self._rng("zones")
        x0, y0, x1, y1 = spec.extent
        w, h = 2_600.0, 1_800.0
        gx, gy = np.meshgrid(np.arange(x0 + rng.uniform(0, w), x1 - w, w), np.arange(y0 + rng.uniform(0, h), y1 - h, h))
        cells = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + w, gy.ravel() + h)
        share = _area_inside(cells, self.core_pieces) / (w * h)
        blocked = _hits(cells, np.asarray([*self.eco_shapes, *self.river_channels], dtype=object))
        blocked |= _hits(cells, np.asarray([self.v_box], dtype=object), 300.0)
        full = np.flatnonzero((share >= 0.85) & ~blocked)
        half = np.flatnonzero((share >= 0.5) & (share < 0.85) & ~blocked)
        n_half = min(len(half), round(0.1 * spec.zones))
        n_full = min(len(full), spec.zones - n_half)
        chosen = np.sort(np.r_[rng.choice(full, n_full, replace=False), rng.choice(half, n_half, replace=False)])
        n = len(chosen)
        cx, cy = gx.ravel()[chosen] + w / 2, gy.ravel()[chosen] + h / 2
        margin = rng.uniform(100.0, 300.0, (n, 4))
        local = np.stack([-w / 2 + margin[:, 0], -h / 2 + margin[:, 1], w / 2 - margin[:, 2], h / 2 - margin[:, 3]], 1)
        angle = np.radians(rng.uniform(-4.0, 4.0, n)).astype(float)
        inset = rng.uniform(0.0, 60.0, (n, 4, 2)) * np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
        lx = local[:, [0, 2, 2, 0]] + inset[:, :, 0]
        ly = local[:, [1, 1, 3, 3]] + inset[:, :, 1]
        return _Zones(x=cx, y=cy, angle=angle, local=local, shapes=_frame_polygons(cx, cy, angle, lx, ly),
                      first_class=share[chosen] >= 0.85)

    @cached_property
    def industrial_zone(self) -> gpd.GeoDataFrame:
        """产业区块 layer (the fixture first)."""
        rng = self._rng("zone-attributes")
        zones = self.zones
        n = len(zones.shapes)
        industry = rng.choice(_INDUSTRIES, n)
        place = rng.choice(_PLACES, n)
        fixture = shapely.box(40_510_000.0, 3_524_000.0, 40_512_500.0, 3_526_000.0)
        return _frame({
            "区块编号": ["FX-IZ-01", *(f"CYQK-{i + 1:03d}" for i in range(n))],
            "区块名称": ["校验产业区块", *(f"{p}{ind}产业区块" for p, ind in zip(place, industry, strict=True))],
            "主导产业": ["智能制造", *industry],
            "区块类型": ["一级控制线", *np.where(zones.first_class, "一级控制线", "二级控制线")],
        }, _to_multi(np.asarray([fixture, *zones.shapes], dtype=object)))

    def _zone_parcels(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Candidate parcels laid out block by block in every zone, and the zone index of each."""
        zones = self.zones
        parcels, owner = [], []
        for i in range(len(zones.shapes)):
            lx0, ly0, lx1, ly1 = zones.local[i]
            cols = _cuts(rng, lx0, lx1)
            rows = _cuts(rng, ly0, ly1)
            rects = np.asarray([(a, b, c, d) for a, c in cols for b, d in rows])
            area = (rects[:, 2] - rects[:, 0]) * (rects[:, 3] - rects[:, 1])
            split = (rng.random(len(rects)) < 0.25) & (area > 40_000)
            rects = np.concatenate([rects[~split], *_halves(rects[split])])
            cells = _rotated_rects(zones.x[i], zones.y[i], zones.angle[i], rects)
            cells = shapely.intersection(cells, zones.shapes[i])
            parcels.append(cells)
            owner.append(np.full(len(cells), i))
        geoms, owners = _to_multi(np.concatenate(parcels)), np.concatenate(owner)
        area = shapely.area(geoms)
        keep = (area >= _PARCEL_MIN_M2) & (area <= _PARCEL_MAX_M2)
        return geoms[keep], owners[keep]

    def _loose_parcels(self, rng: np.random.Generator, n: int, taken: np.ndarray) -> np.ndarray:
        """n parcels scattered in the 集中建设区 outside every zone, clear of red lines, rivers and V."""
        if n <= 0:
            return np.empty(0, dtype=object)
        core = [t for t in self.towns if t.code == "01"]
        weight = np.asarray([t.r**2 for t in core])
        m = 12 * n + 50
        town = rng.choice(len(core), m, p=weight / weight.sum())
        d = np.sqrt(rng.random(m)) * np.asarray([core[t].r_min for t in town]) * 0.95
        a = rng.uniform(0, 2 * np.pi, m)
        cx = np.asarray([core[t].x for t in town]) + d * np.cos(a)
        cy = np.asarray([core[t].y for t in town]) + d * np.sin(a)
        w, h = np.exp(rng.uniform(np.log(115.0), np.log(420.0), (2, m)))
        local = np.stack([-w / 2, -h / 2, w / 2, h / 2], axis=1)
        cands = _rotated_rects(cx, cy, np.radians(rng.uniform(-30, 30, m)), local)
        area = shapely.area(cands)
        ok = (area >= _PARCEL_MIN_M2) & (area <= _PARCEL_MAX_M2) & _hits(shapely.points(cx, cy), self.core_pieces)
        ok &= ~_hits(cands, np.asarray([*self.zones.shapes, *taken], dtype=object), 60.0)
        ok &= ~_hits(cands, np.asarray([*self.eco_shapes, *self.river_channels], dtype=object), 30.0)
        ok &= ~_hits(cands, np.asarray([self.v_box], dtype=object), 300.0)
        cands = cands[ok]
        return _to_multi(cands[_greedy_disjoint(cands, 20.0)[:n]])

    @cached_property
    def parcels(self) -> gpd.GeoDataFrame:
        """产业地块 layer: 95 % laid out inside zones, the rest scattered in the 集中建设区; fixtures first."""
        spec, rng = self.spec, self._rng("parcels")
        inside, owner = self._zone_parcels(rng)
        n_in = min(len(inside), round(0.95 * spec.parcels))
        pick = np.sort(rng.choice(len(inside), n_in, replace=False))
        inside, owner = inside[pick], owner[pick]
        loose = self._loose_parcels(rng, spec.parcels - n_in, inside)
        geoms = np.concatenate([inside, loose])
        n = len(geoms)
        points = shapely.point_on_surface(geoms)
        codes = self._district_codes(shapely.get_x(points), shapely.get_y(points))
        names = dict(_DISTRICT_NAMES)
        zone_rows = self.industrial_zone.iloc[1:]
        zone_id = zone_rows["区块编号"].to_numpy()[owner]
        zone_name = zone_rows["区块名称"].to_numpy()[owner]
        seq = pd.Series(owner).groupby(owner).cumcount().to_numpy() + 1
        ids = [f"{z}-{s:02d}" for z, s in zip(zone_id, seq, strict=True)]
        ids += [f"DK{c}-{k + 1:04d}" for k, c in enumerate(codes[n_in:])]
        labels = [f"{z}{s}号地块" for z, s in zip(zone_name, seq, strict=True)]
        labels += [f"{names.get(c, '示例市')}零星工业{k + 1}号地块" for k, c in enumerate(codes[n_in:])]
        industry = np.r_[self.industrial_zone["主导产业"].to_numpy()[1:][owner], rng.choice(_INDUSTRIES, n - n_in)]
        attrs = _parcel_attributes(rng, n, industry)
        attrs.update({
            "地块编号": ids,
            "地块名称": labels,
            "所属园区": [f"{names.get(c, '示例市')[:-1]}经济开发区" for c in codes],
        })
        fixtures = _fixture_parcels()
        rows = {k: [*(f[k] for f in fixtures), *attrs[k]] for k in attrs}
        geoms = _to_multi(np.asarray([*(f["geometry"] for f in fixtures), *geoms], dtype=object))
        rows["用地面积"] = np.round(shapely.area(geoms), 2)
        return _frame({k: rows[k] for k in _PARCEL_COLUMNS}, geoms)

    # ---- districts and transit -------------------------------------------------------------------------------

    @cached_property
    def districts(self) -> gpd.GeoDataFrame:
        """行政区 layer: wavy Voronoi faces that tile the extent exactly; V lies inside district 0 (高新区)."""
        spec, rng = self.spec, self._rng("districts")
        x0, y0, x1, y1 = spec.extent
        vx0, vy0, vx1, vy1 = VERIFY_ZONE
        main = self.towns[1]
        spacing = 0.35 * math.sqrt(self.box.area / spec.districts)
        for _ in range(200):
            seeds = [((vx0 + vx1) / 2, (vy0 + vy1) / 2), (main.x, main.y)]
            while len(seeds) < spec.districts:
                p = (rng.uniform(x0, x1), rng.uniform(y0, y1))
                if all(math.dist(p, s) > spacing for s in seeds):
                    seeds.append(p)
            edges = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=self.box, only_edges=True)
            lines = [_wiggle(rng, e) for e in shapely.get_parts(shapely.intersection(edges, self.box))]
            net = shapely.union_all([*shapely.intersection(lines, self.box), self.box.exterior])
            faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(net)))
            if len(faces) != spec.districts:
                continue
            sx, sy = np.asarray(seeds).T
            inside = np.asarray([shapely.contains_xy(f, sx, sy) for f in faces])
            owner = [int(np.argmax(row)) if row.sum() == 1 else -1 for row in inside]
            if sorted(owner) == list(range(spec.districts)) and faces[owner.index(0)].contains(self.v_box):
                break
        else:
            raise RuntimeError("could not draw districts that keep V inside one of them")
        order = np.argsort(owner)
        codes = [_DISTRICT_NAMES[i] for i in range(spec.districts)]
        frame = _frame({"XZQDM": [c for c, _ in codes], "XZQMC": [n for _, n in codes]},
                       _to_multi(np.asarray(faces, dtype=object)[order]))
        return frame.sort_values("XZQDM", kind="stable").reset_index(drop=True)

    def _district_codes(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """XZQDM of the district holding each point (EPSG:4528)."""
        codes = np.full(len(x), "990100", dtype=object)
        for code, shape in zip(self.districts["XZQDM"], self.districts.geometry.values, strict=True):
            codes[shapely.intersects_xy(shape, x, y)] = code
        return codes

    @cached_property
    def transit(self) -> gpd.GeoDataFrame:
        """交通站点与线路: two metro lines of the main city, two highways, stations, hubs and exits (mixed types)."""
        rng = self._rng("transit")
        x0, y0, _, _ = self.spec.extent
        main = self.towns[1]
        station = shapely.Point(40_511_000.0, 3_525_000.0)
        rows: list[tuple[str, str, shapely.Geometry]] = [("校验站", "地铁站", station)]
        stations = list(rng.permutation(_STATIONS))
        pool = rng.permutation(_TOWNSHIPS + _PLACES)
        places = iter([f"{p}{side}" for side in ("", "东", "西", "南", "北") for p in pool])  # unique names
        a0 = rng.uniform(0, np.pi)
        for k, a in enumerate((a0, a0 + rng.uniform(0.4, 0.6) * np.pi)):
            t = np.linspace(-1.0, 1.0, 41)
            half = 0.75 * main.r_min
            bend = rng.uniform(-0.15, 0.15) * half
            xs = main.x + t * half * math.cos(a) - (1 - t**2) * bend * math.sin(a)
            ys = main.y + t * half * math.sin(a) + (1 - t**2) * bend * math.cos(a)
            line = shapely.LineString(np.round(np.stack([xs, ys], 1), 3))
            rows.append((f"地铁{k + 1}号线", "地铁线", line))
            for d in np.arange(0.0, line.length + 1.0, line.length / max(2, round(line.length / 1_200.0))):
                rows.append((f"{stations.pop()}站", "地铁站", _round_point(line.interpolate(d))))
        b = rng.uniform(0, 2 * np.pi)
        rows.append(("示例站", "高铁站", _round_point(shapely.Point(main.x + 1.1 * main.r * math.cos(b),
                                                                     main.y + 1.1 * main.r * math.sin(b)))))
        for town in self.towns[2:]:
            if town.code == "01":
                rows.append((f"{next(places)}公交枢纽", "公交枢纽", _round_point(shapely.Point(town.x, town.y))))
        for k, (start, heading) in enumerate((((main.x - 1.3 * main.r, y0), np.pi / 2),
                                               ((x0, main.y - 1.3 * main.r), 0.0))):
            road = self._highway(rng, start, heading)
            rows.append((("示例南北高速", "示例东西高速")[k], "高速公路", road))
            for d in np.arange(rng.uniform(2_000, 5_000), road.length, rng.uniform(6_000, 9_000)):
                rows.append((f"{next(places)}出入口", "高速出入口", _round_point(road.interpolate(d))))
        kept = [r for r in rows[1:] if shapely.distance(r[2], self.v_box) > 1_500.0]
        rows = [rows[0], *kept]
        count = {"ZD": 0, "XL": 0}  # 站点 / 线路
        ids = ["FX-ST-01"]
        for _, kind, _ in rows[1:]:
            prefix = "XL" if kind.endswith(("线", "公路")) else "ZD"
            count[prefix] += 1
            ids.append(f"JT-{prefix}-{count[prefix]:03d}")
        return _frame({"BH": ids, "MC": [r[0] for r in rows], "LX": [r[1] for r in rows]},
                      np.asarray([r[2] for r in rows], dtype=object))

    def _highway(self, rng: np.random.Generator, start: tuple[float, float], heading: float) -> shapely.LineString:
        """A highway across the extent that keeps more than 1.5 km from V and 300 m from lakes."""
        x0, y0, x1, y1 = self.spec.extent
        lakes = np.asarray(self.lakes, dtype=object)
        for attempt in range(200):
            shift = rng.normal(0.0, 1_000.0 * attempt**0.5)
            if heading > 0:
                s = (float(np.clip(start[0] + shift, x0 + 1_000, x1 - 1_000)), y0)
            else:
                s = (x0, float(np.clip(start[1] + shift, y0 + 1_000, y1 - 1_000)))
            length = 1.5 * max(x1 - x0, y1 - y0)
            coords = _meander(rng, s, heading, length, step_m=200.0, turn_rad=0.07, smooth_m=5_000.0)
            road = _longest_line(shapely.intersection(shapely.LineString(coords), self.box))
            if shapely.distance(road, self.v_box) > 1_500.0 and not _hits(np.asarray([road]), lakes, 300.0)[0]:
                return road
        raise RuntimeError("could not route a highway clear of V and the lakes")

    # ---- slope -------------------------------------------------------------------------------------------------

    @cached_property
    def slope(self) -> tuple[np.ndarray, tuple[float, float]]:
        """Slope (degrees, float32, 0.01° steps) on the 30 m grid, with V's fixture values; and the grid origin."""
        rng = self._rng("terrain")
        x0, y0, width, height = _slope_grid(self.spec.extent)
        xs = x0 + SLOPE_CELL_M * (np.arange(width) + 0.5)
        ys = y0 - SLOPE_CELL_M * (np.arange(height) + 0.5)
        z = np.zeros((height, width), dtype=np.float32)
        for lo, hi, amp_lo, amp_hi in ((2_000, 8_000, 2, 8),) * 4 + ((10_000, 25_000, 30, 90),) * 3:
            # gently rolling plain: plane waves tens of metres high over kilometres
            lam, d, ph = rng.uniform(lo, hi), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
            amp = rng.uniform(amp_lo, amp_hi)
            ax, ay = 2 * np.pi / lam * math.cos(d) * (xs - x0), 2 * np.pi / lam * math.sin(d) * (ys - y0) + ph
            z += (amp * (np.outer(np.cos(ay), np.cos(ax)) - np.outer(np.sin(ay), np.sin(ax)))).astype(np.float32)
        hills = self.hills
        for hx, hy, hr in zip(hills.x, hills.y, hills.r, strict=True):
            sigma = 0.45 * hr
            _add_bump(z, xs, ys, hx, hy, sigma, sigma * rng.uniform(0.35, 0.8))
            for _ in range(4):  # spurs and knolls make the slopes uneven
                a, d, s = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 0.6) * hr, rng.uniform(0.15, 0.35) * hr
                _add_bump(z, xs, ys, hx + d * math.cos(a), hy + d * math.sin(a), s, s * rng.uniform(0.3, 0.75))
        gy, gx = np.gradient(z, SLOPE_CELL_M)
        slope = np.round(np.degrees(np.arctan(np.hypot(gx, gy))), 2).astype(np.float32)
        _set_cells(slope, x0, y0, VERIFY_ZONE, SLOPE_V_DEG)
        _set_cells(slope, x0, y0, SLOPE_BLOCK, SLOPE_BLOCK_DEG)
        return slope, (x0, y0)


_PARCEL_COLUMNS = (
    "地块编号", "地块名称", "用地性质", "用地面积", "状态", "容积率下限", "容积率上限",
    "投资强度", "亩均税收", "所属园区", "产业定位",
)


def _frame(columns: dict[str, Any], geoms: np.ndarray) -> gpd.GeoDataFrame:
    """A GeoDataFrame in EPSG:4528 from columns and geometries."""
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(np.asarray(geoms, dtype=object), crs=CRS))


def _longest_line(geom: shapely.Geometry) -> shapely.LineString:
    """The longest LineString part of a lineal geometry."""
    parts = shapely.get_parts(geom)
    return parts[int(np.argmax(shapely.length(parts)))]


def _round_point(point: shapely.Point) -> shapely.Point:
    """A point rounded to the millimetre."""
    return shapely.Point(round(point.x, 3), round(point.y, 3))


def _cuts(rng: np.random.Generator, lo: float, hi: float) -> list[tuple[float, float]]:
    """Parcel widths (115–420 m, log-uniform) along [lo, hi] with 20–40 m roads between them."""
    out, pos = [], lo
    while pos < hi - 60.0:
        width = math.exp(rng.uniform(math.log(115.0), math.log(420.0)))
        out.append((pos, min(pos + width, hi)))
        pos += width + rng.uniform(20.0, 40.0)
    return out


def _halves(rects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local rectangles (x0, y0, x1, y1) cut in two across their longer side with a 10 m gap."""
    wide = (rects[:, 2] - rects[:, 0]) >= (rects[:, 3] - rects[:, 1])
    mid_x, mid_y = (rects[:, 0] + rects[:, 2]) / 2, (rects[:, 1] + rects[:, 3]) / 2
    first, second = rects.copy(), rects.copy()
    first[wide, 2], second[wide, 0] = mid_x[wide] - 5.0, mid_x[wide] + 5.0
    first[~wide, 3], second[~wide, 1] = mid_y[~wide] - 5.0, mid_y[~wide] + 5.0
    return first, second


def _field_patches(rng: np.random.Generator, gx: np.ndarray, gy: np.ndarray, cell: float) -> np.ndarray:
    """Irregular eight-vertex field patches, one per grid cell (lower-left corners gx, gy), 8 % with a village hole."""
    n = len(gx)
    m = 0.05 * cell
    jx, jy = rng.uniform(0, 0.07 * cell, (2, n, 4))
    cx = np.stack([gx + m + jx[:, 0], gx + cell - m - jx[:, 1], gx + cell - m - jx[:, 2], gx + m + jx[:, 3]], 1)
    cy = np.stack([gy + m + jy[:, 0], gy + m + jy[:, 1], gy + cell - m - jy[:, 2], gy + cell - m - jy[:, 3]], 1)
    t = rng.uniform(0.35, 0.65, (n, 4))
    nxt = [1, 2, 3, 0]
    mx, my = cx + t * (cx[:, nxt] - cx), cy + t * (cy[:, nxt] - cy)
    push = rng.uniform(-0.03, 0.03, (n, 4)) * cell
    mx[:, [1, 3]] += push[:, [1, 3]]
    my[:, [0, 2]] += push[:, [0, 2]]
    xs = np.stack([cx, mx], axis=2).reshape(n, 8)
    ys = np.stack([cy, my], axis=2).reshape(n, 8)
    shells = np.round(np.stack([xs, ys], axis=-1), 3)
    village = rng.random(n) < 0.08
    hx = gx[village] + cell / 2 + rng.uniform(-0.1, 0.1, village.sum()) * cell
    hy = gy[village] + cell / 2 + rng.uniform(-0.1, 0.1, village.sum()) * cell
    hw, hh = rng.uniform(0.06, 0.125, (2, village.sum())) * cell
    ring_x = np.stack([hx - hw, hx + hw, hx + hw, hx - hw], 1)
    ring_y = np.stack([hy - hh, hy - hh, hy + hh, hy + hh], 1)
    ring = np.stack([ring_x, ring_y], -1)
    out = shapely.polygons(shells)
    if village.any():
        out[village] = shapely.polygons(shells[village], holes=np.round(ring, 3)[:, None])
    return out


def _add_bump(z: np.ndarray, xs: np.ndarray, ys: np.ndarray, bx: float, by: float, sigma: float,
              height_m: float) -> None:
    """Add a Gaussian hill to the elevation grid, evaluated only within 4 σ of its centre."""
    cols = np.flatnonzero(np.abs(xs - bx) <= 4 * sigma)
    rows = np.flatnonzero(np.abs(ys - by) <= 4 * sigma)
    if cols.size and rows.size:
        gx = np.exp(-((xs[cols] - bx) ** 2) / (2 * sigma**2))
        gy = np.exp(-((ys[rows] - by) ** 2) / (2 * sigma**2))
        z[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1] += (height_m * np.outer(gy, gx)).astype(np.float32)


def _set_cells(grid: np.ndarray, x0: float, y0: float, bounds: Bounds, value: float) -> None:
    """Set every cell of the 30 m grid (top-left origin x0, y0) that overlaps bounds to value."""
    bx0, by0, bx1, by1 = bounds
    c0, c1 = math.floor((bx0 - x0) / SLOPE_CELL_M), math.ceil((bx1 - x0) / SLOPE_CELL_M)
    r0, r1 = math.floor((y0 - by1) / SLOPE_CELL_M), math.ceil((y0 - by0) / SLOPE_CELL_M)
    grid[max(r0, 0): r1, max(c0, 0): c1] = value


def _parcel_attributes(rng: np.random.Generator, n: int, industry: np.ndarray) -> dict[str, list[Any]]:
    """Land use, status, FAR, investment and tax figures of n parcels, plausible for each land use."""
    use = _pick(rng, _LAND_USES, n)
    kind = np.where(np.char.startswith(use.astype(str), "1101"), 1, np.where(use == "090101", 2, 0))
    far_min = np.choose(kind, [rng.choice([1.0, 1.2, 1.5], n), rng.choice([0.8, 1.0], n), rng.choice([1.5, 2.0], n)])
    far_max = np.round(far_min + rng.choice([0.8, 1.0, 1.5, 2.0], n), 1)
    invest = np.choose(kind, [rng.uniform(250, 600, n), rng.uniform(150, 300, n), rng.uniform(400, 800, n)])
    tax = np.choose(kind, [rng.uniform(20, 60, n), rng.uniform(10, 25, n), rng.uniform(30, 80, n)])
    return {
        "用地性质": list(use),
        "状态": list(_pick(rng, _PARCEL_STATUS, n)),
        "容积率下限": list(far_min),
        "容积率上限": list(far_max),
        "投资强度": list(np.round(invest, -1)),
        "亩均税收": list(np.round(tax * 2) / 2),
        "产业定位": list(np.choose(kind, [industry, np.full(n, "现代物流", dtype=object),
                                          np.full(n, "商贸服务", dtype=object)])),
    }


# -------------------------------------------------------------------------------------------------------- fixtures

# (地块编号, 地块名称, (x0, y0, x1, y1) in EPSG:4528, 用地性质)
FIXTURE_PARCELS = (
    ("FX-CLEAN-01", "校验合规地块", (40_510_200.0, 3_524_200.0, 40_510_600.0, 3_524_500.0), "100101"),
    ("FX-FARM-01", "校验压占农田地块", (40_513_100.0, 3_524_100.0, 40_513_300.0, 3_524_300.0), "100101"),
    ("FX-DEV-01", "校验跨开发边界地块", (40_512_800.0, 3_525_200.0, 40_513_100.0, 3_525_400.0), "100101"),
    ("FX-ECO-01", "校验压占红线地块", (40_511_800.0, 3_526_400.0, 40_512_100.0, 3_526_600.0), "100101"),
    ("FX-SLIVER-01", "校验红线碎片地块", (40_512_200.0, 3_526_300.0, 40_512_400.0, 3_526_500.004), "100101"),
    ("FX-WH-01", "校验仓储地块", (40_510_700.0, 3_524_600.0, 40_511_200.0, 3_525_000.0), "110101"),
)
SITE_ZONE40 = (40_511_500.0, 3_526_000.0, 40_512_300.0, 3_526_800.0)
SITE_WGS84 = (40_510_100.0, 3_525_100.0, 40_510_400.0, 3_525_300.0)


def _fixture_parcels() -> list[dict[str, Any]]:
    """The fixture parcels inside V, with all attributes."""
    warehouse = {"容积率下限": 1.0, "容积率上限": 2.0, "投资强度": 200.0, "亩均税收": 15.0, "产业定位": "现代物流"}
    factory = {"容积率下限": 1.2, "容积率上限": 3.0, "投资强度": 400.0, "亩均税收": 40.0, "产业定位": "智能制造"}
    return [{"地块编号": pid, "地块名称": name, "用地性质": use, "状态": "可招商", "所属园区": "校验园区",
             "geometry": shapely.box(*bounds), **(warehouse if use.startswith("1101") else factory)}
            for pid, name, bounds, use in FIXTURE_PARCELS]


def _site_zone40_text() -> str:
    """The fixture site as a Ministry coordinate TXT (部标, zone 40, X = northing, clockwise, closed)."""
    x0, y0, x1, y1 = SITE_ZONE40
    ring = [(y1, x0), (y1, x1), (y0, x1), (y0, x0), (y1, x0)]  # (northing, easting) clockwise from the NW corner
    area_ha = (x1 - x0) * (y1 - y0) / 10_000.0
    lines = ["[属性描述]", "格式版本号=1.01版本", "数据产生单位=示例市自然资源和规划局", "数据产生日期=2026-11-22",
             "坐标系=2000国家大地坐标系", "几度分带=3", "投影类型=高斯克吕格", "计量单位=米", "带号=40", "精度=0.001",
             "转换参数=0,0,0,0,0,0,0", "[地块坐标]", f"{len(ring)},{area_ha:.4f},FX-SITE-01,校验选址地块,面,,,,@"]
    for k, (north, east) in enumerate(ring):
        lines.append(f"J{k % (len(ring) - 1) + 1},1,{north:.3f},{east:.3f}")
    return "\r\n".join(lines) + "\r\n"


def _site_wgs84_geojson() -> dict[str, Any]:
    """The fixture site as an RFC 7946 FeatureCollection: lon/lat (EPSG:4490 ≈ WGS84), 7 decimals, counter-clockwise."""
    x0, y0, x1, y1 = SITE_WGS84
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4490", always_xy=True)
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    ring = [[round(v, 7) for v in to_lonlat.transform(x, y)] for x, y in corners]
    return {"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "properties": {"id": "FX-SITE-02", "name": "校验选址地块（经纬度）"},
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
    }]}


def write_fixtures(out_dir: Path) -> list[Path]:
    """Write the fixture site files (GBK/CRLF TXT and GeoJSON) into out_dir/fixtures."""
    folder = out_dir / "fixtures"
    folder.mkdir(parents=True, exist_ok=True)
    txt, geojson = folder / "site_zone40.txt", folder / "site_wgs84.geojson"
    txt.write_bytes(_site_zone40_text().encode("gbk"))
    features = ",\n".join(f"  {json.dumps(f, ensure_ascii=False)}" for f in _site_wgs84_geojson()["features"])
    geojson.write_text(f'{{"type": "FeatureCollection", "features": [\n{features}\n]}}\n', encoding="utf-8")
    return [txt, geojson]


# -------------------------------------------------------------------------------------------------------- writing

def _write_vector(frame: gpd.GeoDataFrame, path: Path, key: str) -> None:
    """Write one layer as a GeoPackage with a single layer named key."""
    path.unlink(missing_ok=True)
    geometry_type = "Unknown" if key == "transit" else "MultiPolygon"
    pyogrio.write_dataframe(frame, path, layer=key, driver="GPKG", geometry_type=geometry_type)


def _write_slope(slope: np.ndarray, origin: tuple[float, float], path: Path) -> None:
    """Write the slope grid as a tiled, DEFLATE-compressed float32 GeoTIFF in EPSG:4528."""
    path.unlink(missing_ok=True)
    profile = {"driver": "GTiff", "width": slope.shape[1], "height": slope.shape[0], "count": 1, "dtype": "float32",
               "crs": CRS, "transform": from_origin(*origin, SLOPE_CELL_M, SLOPE_CELL_M), "nodata": SLOPE_NODATA,
               "compress": "deflate", "predictor": 3, "zlevel": 9, "tiled": True, "blockxsize": 256,
               "blockysize": 256}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(slope, 1)
        dst.update_tags(1, units="degree")


def generate(out_dir: Path, *, scale: str = "sample", seed: int = DEFAULT_SEED,
             layers: Collection[str] | None = None) -> dict[str, Any]:
    """Generate the city's layers (GeoPackages in EPSG:4528, slope.tif) and fixtures into out_dir; return a summary."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(SCALES)}")
    unknown = set(layers or ()) - set(LAYER_KEYS)
    if unknown:
        raise ValueError(f"unknown layer keys {sorted(unknown)}; expected some of {list(LAYER_KEYS)}")
    wanted = list(LAYER_KEYS) if layers is None else [k for k in LAYER_KEYS if k in set(layers)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    city = _City(SCALES[scale], seed)
    started = time.perf_counter()
    summary: dict[str, Any] = {"scale": scale, "seed": seed, "extent": SCALES[scale].extent, "layers": {}}
    for key in wanted:
        t0 = time.perf_counter()
        if key == "slope":
            path = out_dir / "slope.tif"
            grid, origin = city.slope
            _write_slope(grid, origin, path)
            count = int(grid.size)
        else:
            path = out_dir / f"{key}.gpkg"
            frame = getattr(city, key)
            _write_vector(frame, path, key)
            count = len(frame)
        summary["layers"][key] = {"path": str(path), "features": count, "bytes": path.stat().st_size,
                                  "seconds": round(time.perf_counter() - t0, 2)}
    summary["fixtures"] = [str(p) for p in write_fixtures(out_dir)]
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: python -m layers.sample_city --out DIR [--scale sample|city] [--seed N] [--layers K ...]."""
    parser = argparse.ArgumentParser(prog="python -m layers.sample_city",
                                     description="Generate the sample city 示例市 (EPSG:4528).")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--scale", choices=sorted(SCALES), default="sample")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--layers", nargs="+", choices=LAYER_KEYS, help="only these layers (default: all)")
    args = parser.parse_args(argv)
    summary = generate(args.out, scale=args.scale, seed=args.seed, layers=args.layers)
    print(f"{'layer':<16}{'features':>12}{'MB':>9}{'s':>8}")
    for key, info in summary["layers"].items():
        print(f"{key:<16}{info['features']:>12}{info['bytes'] / 1e6:>9.2f}{info['seconds']:>8.1f}")
    print(f"total {summary['seconds']:.1f} s ({args.scale}, seed {args.seed}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
