"""Exact grouped TreeSHAP: every variant is checked against LightGBM's own ``pred_contrib``."""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from crm_predict.explain.tree_cache import grouped_contributions
from crm_predict.explain.treeshap import TreeEnsemble

TOL = 1e-6
SOURCES = ["web", "event", "referral", "partner", "cold_call"]


def leads(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Small CRM-like frame: categories, counts with zeros, continuous values with NaN."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "source": pd.Categorical(rng.choice(SOURCES, n), categories=SOURCES),
            "region": pd.Categorical(rng.choice(["n", "s", "e"], n), categories=["n", "s", "e"]),
            "emails": rng.poisson(1.5, n).astype(float),
            "calls": rng.poisson(0.5, n).astype(float),
            "deal_value": np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(8, 1, n)),
            "days_idle": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(20, n)),
            "score": rng.normal(0, 1, n),
        }
    )
    logit = (
        0.6 * X["emails"]
        - 0.03 * X["days_idle"].fillna(40)
        + X["score"]
        + 0.8 * (X["source"] == "referral")
        - 0.5 * X["deal_value"].isna()
        + 0.4 * (X["calls"] == 0)
        - 1.0
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y.to_numpy()


def train(X: pd.DataFrame, y: np.ndarray, rounds: int = 50, **params) -> lgb.Booster:
    base = {"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1, "seed": 0}
    init_score = params.pop("init_score", None)
    data = lgb.Dataset(X, y, init_score=init_score, **params.pop("dataset", {}))
    return lgb.train({**base, **params}, data, rounds)


def scoring_frame(n: int = 400, seed: int = 11) -> pd.DataFrame:
    """Fresh rows plus the hard cases: zeros, NaN everywhere, unseen and missing levels."""
    X, _ = leads(n, seed)
    X.loc[:20, "calls"] = 0.0
    X.loc[:10, "emails"] = np.nan
    X.loc[5:15, "score"] = 0.0
    X.loc[30:40, "score"] = np.nan
    source = X["source"].astype(object)
    source[50:60] = "trade_show"  # not a training level
    source[60:70] = np.nan
    X["source"] = pd.Categorical(source, categories=[*SOURCES, "trade_show"])
    return X


def reference(booster: lgb.Booster, X: pd.DataFrame, columns: list[list[int]]) -> np.ndarray:
    contrib = booster.predict(X, pred_contrib=True)
    return np.column_stack([contrib[:, c].sum(1) for c in columns] + [contrib[:, -1]])


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return leads(3000, 0)


@pytest.fixture(scope="module")
def booster(data) -> lgb.Booster:
    return train(*data)


@pytest.fixture(scope="module")
def ensemble(booster) -> TreeEnsemble:
    return TreeEnsemble.from_booster(booster)


def assert_matches(booster, ens, X, groups=None) -> None:
    contrib, base, names = ens.contributions(X, groups=groups)
    features = booster.feature_name()
    labels = features if groups is None else [dict(groups).get(f, f) for f in features]
    columns = [[j for j, g in enumerate(labels) if g == name] for name in names]
    expected = reference(booster, X, columns)
    np.testing.assert_allclose(contrib, expected[:, :-1], rtol=0, atol=TOL)
    np.testing.assert_allclose(base, expected[:, -1], rtol=0, atol=TOL)
    raw = booster.predict(X, raw_score=True)
    np.testing.assert_allclose(contrib.sum(1) + base, raw, rtol=0, atol=TOL)


def test_matches_pred_contrib_with_nan_zeros_and_unseen_levels(booster, ensemble):
    assert_matches(booster, ensemble, scoring_frame())


@pytest.mark.parametrize(
    "params",
    [
        {"zero_as_missing": True},
        {"use_missing": False},
        {"boost_from_average": False},
        {"objective": "regression"},
        {"boosting": "rf", "bagging_fraction": 0.7, "bagging_freq": 1},
        {"max_cat_to_onehot": 8, "min_data_per_group": 5},
    ],
    ids=["zero_as_missing", "no_missing", "no_average", "regression", "random_forest", "onehot"],
)
def test_model_variants(data, params):
    booster = train(*data, **params)
    assert_matches(booster, TreeEnsemble.from_booster(booster), scoring_frame())


def test_init_score_is_not_part_of_the_model(data):
    X, y = data
    booster = train(X, y, init_score=np.full(len(y), 0.7))
    assert_matches(booster, TreeEnsemble.from_booster(booster), scoring_frame())


def test_numbers_in_a_categorical_column_follow_lightgbm_int_cast(data):
    X, y = data
    X = X.assign(source=X["source"].cat.codes.astype(float))
    booster = train(X, y, dataset={"categorical_feature": ["source"]})
    Xt = scoring_frame().assign(source=0.0)
    Xt.loc[:9, "source"] = [-1.0, -0.5, 2.7, 1e10, np.nan, 7.0, 4.0, 3.0, 0.0, -np.inf]
    assert_matches(booster, TreeEnsemble.from_booster(booster), Xt)


def test_small_tables_and_rows_explained_one_by_one_agree(booster):
    small = TreeEnsemble.from_booster(booster, max_table=2)
    assert (small._model[1][:, 2] < 0).any(), "some leaves should be explained per row"
    X = scoring_frame(150)
    assert_matches(booster, small, X)
    tabled, _, _ = small.contributions(X)
    plain, _, _ = small.contributions(X, tabled=False)
    np.testing.assert_allclose(tabled, plain, rtol=0, atol=1e-10)


def test_groups_sum_fields_in_first_seen_order(booster, ensemble):
    groups = {
        "source": "source",
        "region": "geo",
        "emails": "engagement",
        "calls": "engagement",
        "deal_value": "deal",
        "days_idle": "engagement",
        "score": "deal",
    }
    X = scoring_frame(200)
    assert_matches(booster, ensemble, X, groups)
    contrib, _, names = ensemble.contributions(X, groups=groups)
    assert names == ["source", "geo", "engagement", "deal"]
    listed, _, _ = ensemble.contributions(X, groups=[groups[f] for f in booster.feature_name()])
    np.testing.assert_array_equal(contrib, listed)


def test_row_order_one_row_and_no_rows(booster, ensemble):
    X = scoring_frame(300)
    contrib, base, _ = ensemble.contributions(X, n_jobs=2, block_rows=64)
    order = np.random.default_rng(3).permutation(len(X))
    shuffled, _, _ = ensemble.contributions(X.iloc[order], n_jobs=2, block_rows=64)
    np.testing.assert_array_equal(shuffled, contrib[order])
    one, one_base, _ = ensemble.contributions(X.iloc[[7]])
    np.testing.assert_allclose(one, contrib[[7]], rtol=0, atol=1e-12)
    assert one_base.shape == (1,)
    empty, empty_base, names = ensemble.contributions(X.iloc[:0])
    assert empty.shape == (0, len(names)) and empty_base.shape == (0,)


def test_threads_give_the_same_numbers(ensemble):
    X = scoring_frame(300)
    single, _, _ = ensemble.contributions(X, n_jobs=1, block_rows=50)
    double, _, _ = ensemble.contributions(X, n_jobs=2, block_rows=50)
    np.testing.assert_array_equal(single, double)


def test_grouped_contributions_parses_each_booster_once(booster):
    X = scoring_frame(100)
    first = grouped_contributions(booster, X)
    again = grouped_contributions(booster, X)
    np.testing.assert_array_equal(first[0], again[0])
    assert first[2] == booster.feature_name()


def test_numpy_input_and_reordered_columns(booster, ensemble):
    X = scoring_frame(100)
    expected, _, _ = ensemble.contributions(X)
    reordered, _, _ = ensemble.contributions(X[X.columns[::-1]])
    np.testing.assert_array_equal(reordered, expected)
    as_array, _, _ = ensemble.contributions(ensemble.encode(X))
    np.testing.assert_array_equal(as_array, expected)


def test_errors_name_the_problem(booster, ensemble):
    X = scoring_frame(10)
    with pytest.raises(ValueError, match="no entry for the model's features"):
        ensemble.contributions(X, groups={"source": "source"})
    with pytest.raises(ValueError, match="lacks the model's features"):
        ensemble.contributions(X.drop(columns="calls"))
    with pytest.raises(ValueError, match="category columns"):
        ensemble.contributions(X.assign(region=X["region"].cat.codes.astype(float)))
    with pytest.raises(ValueError, match="'category' dtype"):
        ensemble.contributions(X.assign(calls="x"))


def test_multiclass_and_linear_trees_are_refused(data):
    X, y = data
    multi = train(
        X, y % 3 + (X["emails"].to_numpy() > 2), rounds=3, objective="multiclass", num_class=3
    )
    with pytest.raises(NotImplementedError, match="multiclass"):
        TreeEnsemble.from_booster(multi)
    linear = train(X, y, rounds=3, linear_tree=True)
    with pytest.raises(NotImplementedError, match="linear trees"):
        TreeEnsemble.from_booster(linear)


def test_pickle_round_trip_keeps_the_tables(ensemble):
    X = scoring_frame(50)
    restored = pickle.loads(pickle.dumps(ensemble))
    np.testing.assert_array_equal(restored.contributions(X)[0], ensemble.contributions(X)[0])


def test_weighted_boosters_give_the_weighted_sum_of_their_contributions(data):
    X, y = data
    halves = [
        train(X.iloc[part], y[part], rounds=30) for part in (slice(0, 1500), slice(1500, None))
    ]
    weights = [0.3, 0.45]
    merged = TreeEnsemble.from_boosters(halves, weights)
    rows = scoring_frame(200)
    contrib, base, names = merged.contributions(rows)
    assert names == halves[0].feature_name()
    expected = sum(
        w * b.predict(rows, pred_contrib=True) for b, w in zip(halves, weights, strict=True)
    )
    np.testing.assert_allclose(contrib, expected[:, :-1], rtol=0, atol=TOL)
    np.testing.assert_allclose(base, expected[:, -1], rtol=0, atol=TOL)
    raw = sum(w * b.predict(rows, raw_score=True) for b, w in zip(halves, weights, strict=True))
    np.testing.assert_allclose(contrib.sum(1) + base, raw, rtol=0, atol=TOL)


def test_weighted_boosters_must_share_their_features(data):
    X, y = data
    one = train(X, y, rounds=3)
    other = train(X.drop(columns="calls"), y, rounds=3)
    with pytest.raises(ValueError, match="different features"):
        TreeEnsemble.from_boosters([one, other], [0.5, 0.5])
    with pytest.raises(ValueError, match="one weight per booster"):
        TreeEnsemble.from_boosters([one], [0.5, 0.5])
