"""CRS helpers shared by loading and storage: EPSG codes and cached transformers."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from sitecheck.errors import CrsUnknown

# China's extent in CGCS2000 lon/lat, with a margin for offshore islands' surroundings.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)


@lru_cache(maxsize=64)
def parse_crs(value: str) -> CRS:
    """Parse a CRS given as 'EPSG:nnnn', a bare code, WKT or PROJ text; refuse what pyproj cannot read."""
    try:
        return CRS.from_user_input(int(value) if value.isdigit() else value)
    except CRSError as exc:
        raise CrsUnknown(f"unrecognised CRS {value!r}", f"无法识别的坐标系 {value!r}") from exc


def epsg_code(value: str) -> int:
    """Return the EPSG code of a CRS, or raise CrsUnknown if it has none."""
    code = parse_crs(value).to_epsg(min_confidence=70)
    if code is None:
        raise CrsUnknown(f"CRS {value!r} has no EPSG code", f"坐标系 {value!r} 没有对应的 EPSG 代码")
    return code


def crs_name(value: str) -> str:
    """Return a CRS as 'EPSG:nnnn' when it has a code, else its name."""
    crs = parse_crs(value)
    code = crs.to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code else crs.name


@lru_cache(maxsize=64)
def transformer(source: str, target: str) -> Transformer:
    """Return a cached x/y-ordered transformer between two CRSs, cheap to use from any thread.

    pyproj gives each thread its own copy of a transformer, made on the thread's first call. A copy of one
    made from two CRSs searches PROJ's database again, about 200 ms per transformer and thread: every new
    worker thread of the service paid that on its first request. A copy of one made from the chosen
    operation's PROJ pipeline takes about 0.3 ms and computes the same numbers (tests/sitecheck/test_projection.py).
    A pair with several candidate operations, which PROJ chooses among point by point, has no single pipeline
    and keeps pyproj's own transformer.
    """
    chosen = Transformer.from_crs(parse_crs(source), parse_crs(target), always_xy=True)
    pipeline = chosen.to_proj4()
    return Transformer.from_pipeline(pipeline) if pipeline else chosen


def same_crs(a: str, b: str) -> bool:
    """True when two CRS strings name the same CRS."""
    return a == b or parse_crs(a) == parse_crs(b)


def transform_geometries(geometries: np.ndarray, source: str, target: str) -> np.ndarray:
    """Transform an array of geometries between CRSs (x/y order); same CRS returns the input."""
    if same_crs(source, target):
        return geometries
    tr = transformer(source, target)

    def _apply(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geometries, _apply)
