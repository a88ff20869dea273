"""Compiled loops where numba can cache them nowhere: the tile writer still imports, compiled in memory, says so
once, and writes the same tile."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import shapely

import sitecheck
from sitecheck.onemap.mvt_embedded import encode_layer, tile_source
from sitecheck.onemap.tilegrid import tile_spec

# A tile of a polygon with a hole, a line and points, in Web-Mercator metres near the sample city.
SCRIPT = """
import logging, sys
import numpy as np, shapely
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from sitecheck import compiled
from sitecheck.onemap.mvt_embedded import encode_layer, tile_source
from sitecheck.onemap.tilegrid import tile_spec
geometries = np.array([shapely.from_wkt(w) for w in sys.argv[1:]], dtype=object)
source = tile_source(geometries, ["v"], {"v": list(range(len(geometries)))})
rows = np.arange(len(geometries))
sys.stdout.write(encode_layer("t", source, rows, rows, tile_spec(14, 13650, 6664)).hex())
sys.stderr.write("uncached: " + ",".join(compiled._uncached))
"""
SHAPES = [
    "POLYGON ((13352000 3736000, 13353500 3736000, 13353500 3737500, 13352000 3737500, 13352000 3736000), "
    "(13352500 3736500, 13352900 3736500, 13352900 3736900, 13352500 3736900, 13352500 3736500))",
    "LINESTRING (13351000 3735000, 13354000 3738000)",
    "MULTIPOINT ((13352200 3736200), (13353000 3737000))",
]


def test_the_tile_writer_works_without_a_writable_cache(tmp_path: Path) -> None:
    """A copy of the package where no cache directory can be made (the module's __pycache__ is a file, the cache
    environment points into /dev/null): it imports, warns once, and writes the bytes this process writes."""
    package = Path(sitecheck.__file__).parent
    shutil.copytree(package, tmp_path / "sitecheck", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "sitecheck" / "onemap" / "__pycache__").write_text("not a directory")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "HOME": "/dev/null"}
    env |= {"NUMBA_CACHE_DIR": "/dev/null/numba", "XDG_CACHE_HOME": "/dev/null/cache"}
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, *SHAPES], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr.count("not cached on disk") == 1
    assert "uncached: _put_varint," in run.stderr and "_wkb_paths" in run.stderr
    geometries = np.array([shapely.from_wkt(w) for w in SHAPES], dtype=object)
    source = tile_source(geometries, ["v"], {"v": [0, 1, 2]})
    rows = np.arange(3)
    expected = encode_layer("t", source, rows, rows, tile_spec(14, 13650, 6664))
    assert len(expected) > 60
    assert bytes.fromhex(run.stdout) == expected
