"""Layer configuration: a new control line is a configuration change, and bad configuration is refused clearly."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from layers.load import load_configured_layers
from sitecheck import errors
from sitecheck.check import check_site
from sitecheck.config import load_catalog
from sitecheck.intake import read_site_geometry
from sitecheck.rules import ProjectFacts, load_rules
from sitecheck.settings import SAMPLE_CITY_DIR
from sitecheck.stores import open_store
from tests.conftest import make_settings

HERITAGE = """
[[layers]]
key = "heritage_line"
name_zh = "历史文化保护线"
name_en = "Historic and cultural protection line"
role = "constraint"
geometry = "polygon"
source = "{source}"
fields = {{ id = "BHXBM", name = "BHXMC" }}
report = ["BHXBM", "BHXMC"]
"""


def _config_with_heritage(tmp_path: Path) -> Path:
    """The sample configuration plus a 历史文化保护线 layer: text only, no code."""
    heritage = tmp_path / "heritage.gpkg"
    gpd.GeoDataFrame(
        {"BHXBM": ["LS-001"], "BHXMC": ["示例古镇历史文化街区"]},
        geometry=[box(40_511_000, 3_524_500, 40_511_400, 3_524_900)],
        crs="EPSG:4528",
    ).to_file(heritage, layer="heritage_line")
    text = (SAMPLE_CITY_DIR / "layers.toml").read_text(encoding="utf-8")
    text = text.replace('source = "', f'source = "{SAMPLE_CITY_DIR.as_posix()}/')
    path = tmp_path / "layers.toml"
    path.write_text(text + HERITAGE.format(source=heritage.as_posix()), encoding="utf-8")
    return path


def test_new_constraint_layer_is_configuration_only(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A configured 历史文化保护线 is loaded and checked by the constraint role's rule: 40 000 m² conflict."""
    config = _config_with_heritage(tmp_path)
    store = open_store(make_settings(engine, tmp_path, request, layer_config=config))
    try:
        load_configured_layers(store, loaded_by="t", analysis_crs=store.crs)
        site = read_site_geometry(box(40_511_200, 3_524_300, 40_511_600, 3_524_700).wkt, crs="EPSG:4528")
        result = check_site(store, site, ProjectFacts(category="industrial", land_use_code="100101"), load_rules())
        heritage = next(f for f in result["layers"] if f["layer"] == "heritage_line")
        assert heritage["status"] == "conflict"
        assert heritage["rule"]["id"] == "constraint.no_occupation"
        assert heritage["overlap"]["area_m2"] == pytest.approx(200 * 200, abs=1e-6)
        assert heritage["features"][0]["attributes"] == {"BHXBM": "LS-001", "BHXMC": "示例古镇历史文化街区"}
        assert "历史文化保护线" in heritage["rule"]["reason_zh"]
        assert result["verdict"] == "non_compliant"
    finally:
        store.close()


@pytest.mark.parametrize(
    "entry, message",
    [
        ('key = "x"\nrole = "forbidden"\nfields = { id = "A" }', "role"),
        ('key = "Bad Key"\nrole = "constraint"\nfields = { id = "A" }', "key"),
        ('key = "x"\nrole = "constraint"', "fields.id"),
        ('key = "x"\nrole = "zone"\ngeometry = "point"\nfields = { id = "A" }', "polygonal"),
    ],
)
def test_bad_configuration_is_refused_with_the_entry_named(tmp_path: Path, entry: str, message: str) -> None:
    """A bad layer entry raises CONFIG_INVALID naming the file and what is wrong."""
    path = tmp_path / "layers.toml"
    path.write_text(f"[[layers]]\n{entry}\n", encoding="utf-8")
    with pytest.raises(errors.ConfigInvalid, match=message) as caught:
        load_catalog(path)
    assert str(path) in caught.value.message_en
