"""Ranking criteria, weights and the numpy back end (the SQL back end is compared in the engine tests)."""

from __future__ import annotations

import numpy as np
import pytest

from sitecheck.errors import ParameterInvalid
from sitecheck.parcels.ranking import (
    SEARCH_WEIGHTS,
    Categories,
    NumpyOps,
    RankParams,
    criterion_values,
    make_ranking,
    score_of,
)


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
