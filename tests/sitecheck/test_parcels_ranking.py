"""Ranking criteria, weights, the numpy back end and the pages of the in-memory index both engines rank on."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sitecheck.errors import ParameterInvalid
from sitecheck.parcels.layout import ParcelState
from sitecheck.parcels.memory import MemoryIndex
from sitecheck.parcels.ranking import (
    SEARCH_WEIGHTS,
    Categories,
    NumpyOps,
    Ranking,
    RankParams,
    criterion_values,
    make_ranking,
    score_of,
)
from sitecheck.parcels.spec import SearchSpec


def test_weights_merge_normalise_and_echo() -> None:
    """Asked weights override defaults; inactive criteria (no target) drop out; applied weights sum to 1."""
    ranking = make_ranking(SEARCH_WEIGHTS, {"transit": 1.0}, RankParams())
    assert ranking.weights == SEARCH_WEIGHTS | {"transit": 1.0}
    assert set(ranking.inactive) == {"area_fit", "far_fit"}
    assert dict(ranking.applied) == pytest.approx({"transit": 1.0 / 1.25, "status": 0.15 / 1.25, "in_zone": 0.1 / 1.25})
    described = ranking.describe()
    assert described["applied_weights"] == dict(ranking.applied) and described["weights"]["transit"] == 1.0


@pytest.mark.parametrize("weights", [{"speed": 1.0}, {"transit": -1.0}, {"transit": float("nan")}])
def test_bad_weights_are_refused(weights: dict[str, float]) -> None:
    """Unknown criteria, negative or non-finite weights are PARAM_INVALID on the weights field."""
    with pytest.raises(ParameterInvalid) as raised:
        make_ranking(SEARCH_WEIGHTS, weights, RankParams())
    assert raised.value.location == {"field": "weights"}


def test_criteria_values_by_hand() -> None:
    """Area fit, transit, FAR fit, status and zone computed by hand for three parcels (NaN is missing)."""
    params = RankParams(target_area_m2=100_000.0, far=2.0, transit_reference_m=2_000.0)
    ranking = make_ranking(SEARCH_WEIGHTS, None, params)
    columns = {
        "area_m2": np.array([100_000.0, 150_000.0, 250_000.0]),
        "transit_m": np.array([0.0, 500.0, np.nan]),
        "far_min": np.array([1.0, 2.5, np.nan]),
        "far_max": np.array([3.0, 4.0, 2.0]),
        "status": Categories.of(["可招商", "储备", None]),
        "in_zone": np.array([True, False, True]),
    }
    ops = NumpyOps()
    values = criterion_values(ranking, columns, ops)
    by_key = dict(zip((k for k, _ in ranking.applied), values, strict=True))
    np.testing.assert_allclose(by_key["area_fit"], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(by_key["transit"], [1.0, 0.75, 0.0])
    np.testing.assert_allclose(by_key["far_fit"], [1.0, 0.75, 0.0])
    np.testing.assert_allclose(by_key["status"], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(by_key["in_zone"], [1.0, 0.0, 1.0])
    score = score_of(ranking, values, ops)
    np.testing.assert_allclose(score, [1.0, 0.35 * 0.5 + 0.25 * 0.75 + 0.15 * 0.75 + 0.15 * 0.5, 0.1])


def test_no_applied_criterion_gives_no_score() -> None:
    """All weights zero: nothing applies, and the caller orders by id alone."""
    ranking = make_ranking(SEARCH_WEIGHTS, dict.fromkeys(SEARCH_WEIGHTS, 0.0), RankParams())
    assert ranking.applied == () and score_of(ranking, [], NumpyOps()) is None


def _spec(ranking: Ranking, *, limit: int | None, offset: int) -> SearchSpec:
    """A search with no filter but the default clean-only one, ranked and paged as given."""
    return SearchSpec(
        include_nonclean=False,
        districts=(),
        area=None,
        area_relation="within",
        ranges=(),
        use_prefixes=(),
        statuses=(),
        industries=(),
        parks=(),
        max_transit_m=None,
        kind_columns=None,
        inside=(),
        outside=(),
        ranking=ranking,
        limit=limit,
        offset=offset,
    )


def test_pages_of_the_memory_index_are_slices_of_the_full_order() -> None:
    """Many tied scores: every page (ranked without sorting every match) is the slice of score desc, id asc."""
    rng = np.random.default_rng(3)
    n = 500
    ids = [f"P-{k:04d}" for k in rng.permutation(n)]
    columns: dict[str, list[Any]] = {
        "fid": list(range(1, n + 1)),
        "parcel_id": ids,
        "clean": (rng.random(n) < 0.9).tolist(),
        "in_zone": (rng.random(n) < 0.5).tolist(),
        "area_m2": rng.uniform(1_000, 100_000, n).tolist(),
        "far_min": [None] * n,
        "far_max": [None] * n,
        "invest": [None] * n,
        "tax": [None] * n,
        "transit_m": [None if k % 17 == 0 else float(v) for k, v in enumerate(rng.choice([500, 1000, 2000], n))],
        "status": rng.choice(["可招商", "储备", "已出让"], n).tolist(),
        "industry": [None] * n,
        "park": [None] * n,
        "district_code": [None] * n,
        "district_name": [None] * n,
        "land_use": ["100101"] * n,
        "kind_m": [[]] * n,
    }
    index = MemoryIndex(ParcelState(1, {}), columns, {}, {})
    ranking = make_ranking(SEARCH_WEIGHTS, None, RankParams())
    full = index.rank(_spec(ranking, limit=None, offset=0))
    expected = sorted(
        (k for k in range(n) if columns["clean"][k]), key=lambda k: (-full.scores[full.positions.index(k)], ids[k])
    )
    assert full.positions == expected and full.total == len(expected)
    assert len(set(full.scores)) < 30  # ties across page boundaries
    for limit, offset in [(1, 0), (7, 0), (7, 7), (20, 13), (50, 400), (10, len(expected) - 3), (5, 10_000)]:
        page = index.rank(_spec(ranking, limit=limit, offset=offset))
        assert page.positions == full.positions[offset : offset + limit]
        assert page.scores == full.scores[offset : offset + limit]
        assert page.values == full.values[offset : offset + limit]
        assert page.total == full.total
