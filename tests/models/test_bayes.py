"""Bayesian conversion model with the sampler mocked (house rule 5): fast, no NUTS.

``crm_predict.models.bayes.model._sample`` is replaced by :func:`fake_sample`, which returns
independent draws with known centres for every posterior variable. Real sampling is tested
in ``tests/models/test_bayes_recovery.py``.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pytensor.tensor import get_underlying_scalar_constant_value as constant
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from crm_predict.config import load_config
from crm_predict.models.bayes import DEFAULT_PRIORS
from crm_predict.models.bayes import model as bayes
from crm_predict.models.bayes.encoding import (
    bin_numerics,
    collapse_cells,
    encode_rows,
    learn_encoding,
)
from crm_predict.models.bayes.model import BayesConvergenceWarning, BayesianConversionModel
from crm_predict.models.factory import make_estimator
from tests.fakes import fake_sample

LEVELS = ["web", "referral", "event", "(other)", "(missing)"]


@pytest.fixture(autouse=True)
def mocked_sampler(monkeypatch):
    monkeypatch.setattr(bayes, "_sample", fake_sample)


def leads(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "source": pd.Categorical(rng.choice(LEVELS[:3], n), categories=LEVELS),
            "region": pd.array(rng.choice(["EMEA", "APAC", "LATAM"], n), dtype="str"),
            "contacts": rng.poisson(3, n).astype(float),
            "budget": np.where(rng.uniform(size=n) < 0.1, np.nan, rng.normal(50, 10, n)),
        },
        index=pd.RangeIndex(1000, 1000 + n),
    )
    y = (rng.uniform(size=n) < 0.3).astype(int)
    return X, y


@pytest.fixture(scope="module")
def data():
    return leads()


@pytest.fixture(scope="module")
def fitted(data):
    """Fitted once for the module; tests only read it."""
    X, y = data
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        patch.setattr(bayes, "_sample", fake_sample)
        warnings.simplefilter("error", BayesConvergenceWarning)
        return BayesianConversionModel(interactions=[("source", "region")], draws=400).fit(X, y)


# ---------------------------------------------------------------------- building
def test_build_model_builds_without_sampling(data, monkeypatch):
    monkeypatch.setattr(bayes, "_sample", None)  # any sampling would fail
    X, y = data
    model = BayesianConversionModel().build_model(X, y)
    names = set(model.named_vars)
    assert {"intercept", "sigma_source", "sigma_region", "slope", "loglik"} <= names
    assert {"b_source", "b_region"} <= names
    assert list(model.coords["feature"]) == ["contacts", "budget", "budget (missing)"]
    # only the three levels with rows are in the model; (other), (missing) score as unseen
    assert list(model.coords["source_level"]) == ["web", "referral", "event"]


def test_weak_fields_are_non_centred_and_strong_fields_centred():
    rng = np.random.default_rng(1)
    n = 4000
    X = pd.DataFrame(
        {
            "strong": pd.Categorical(rng.choice(list("abcd"), n)),
            "noise": pd.Categorical(rng.choice(list("vwxyz"), n)),
        }
    )
    eta = X["strong"].map({"a": -1.5, "b": 0.0, "c": 1.0, "d": 0.5}).astype(float)
    y = (rng.uniform(size=n) < expit(eta)).astype(int)
    estimator = BayesianConversionModel()
    model = estimator.build_model(X, y)
    assert estimator.centred_ == {"strong": True, "noise": False}
    assert "z_noise" in model.named_vars and "z_strong" not in model.named_vars


def test_few_level_fields_get_a_fixed_spread():
    X = pd.DataFrame({"flag": pd.Categorical(["yes", "no"] * 100)})
    estimator = BayesianConversionModel()
    model = estimator.build_model(X, [0, 0, 1, 1] * 50)
    assert estimator.centred_ == {"flag": True}
    assert model["sigma_flag"] in model.deterministics
    assert constant(model["sigma_flag"]) == DEFAULT_PRIORS["group_sigma"]["sigma"]
    assert [v.name for v in model.free_RVs] == ["intercept", "y_flag"]


def test_identical_rows_collapse_into_binomial_cells():
    X = pd.DataFrame({"source": pd.Categorical(["a", "b", "c"] * 200)})
    estimator = BayesianConversionModel()
    estimator.build_model(X, [0, 1] * 300)
    assert estimator.n_cells_ == 3


def test_binned_numerics_collapse_into_fewer_cells():
    rng = np.random.default_rng(2)
    X = pd.DataFrame(
        {
            "source": pd.Categorical(rng.choice(["a", "b", "c"], 600)),
            "visits": rng.gamma(2.0, 2.0, 600),  # continuous: one cell per row unbinned
            "contacts": rng.poisson(1.0, 600).astype(float),  # few values: kept exact
        }
    )
    y = (rng.uniform(size=600) < 0.3).astype(int)
    exact, binned = BayesianConversionModel(), BayesianConversionModel(numeric_bins=4)
    exact.build_model(X, y)
    binned.build_model(X, y)
    assert exact.n_cells_ > 550
    assert binned.n_cells_ <= 3 * 4 * X["contacts"].nunique()
    assert binned.means_ == exact.means_  # scoring reads the same standardisation


@pytest.mark.parametrize("bins", [1, 2.5, True])
def test_numeric_bins_must_be_an_integer_of_at_least_two(data, bins):
    with pytest.raises(ValueError, match="numeric_bins"):
        BayesianConversionModel(numeric_bins=bins).build_model(*data)


def test_config_numeric_bins_reaches_the_model():
    config = load_config(Path(__file__).resolve().parents[2] / "configs" / "churn_demo.yaml")
    assert make_estimator("bayes", config)[-1].numeric_bins is None
    binned = config.model_copy(
        update={"bayes": config.bayes.model_copy(update={"numeric_bins": 8})}
    )
    assert make_estimator("bayes", binned)[-1].numeric_bins == 8


def test_binned_fit_predicts_close_to_the_exact_fit():
    """The binomial-cell likelihood after binning has nearly the exact likelihood's optimum.

    Maximum likelihood on the cells (a weighted logistic regression, no sampling) stands in
    for the posterior: with 3,000 rows the priors barely move it.
    """
    rng = np.random.default_rng(3)
    n = 3000
    X = pd.DataFrame(
        {
            "source": pd.Categorical(rng.choice(["web", "referral", "event"], n)),
            "visits": rng.gamma(2.0, 2.0, n),
            "age": rng.normal(40.0, 10.0, n),
        }
    )
    logit = -1.0 + 0.3 * (X["source"] == "referral") + 0.25 * (X["visits"] - 4.0)
    y = (rng.uniform(size=n) < expit(logit - 0.02 * (X["age"] - 40.0))).astype(int)
    enc = learn_encoding(X, y, None, None, None)
    codes, Z = encode_rows(X, enc)
    design = np.column_stack([np.eye(3)[codes["source"]], Z])
    probabilities, slopes, n_cells = [], [], []
    for bins in (None, 12):
        cells = collapse_cells(codes, bin_numerics(Z, bins), y)
        features = np.column_stack([np.eye(3)[cells["codes"]["source"]], cells["Z"]])
        fit = LogisticRegression(C=1e6, fit_intercept=False).fit(
            np.vstack([features, features]),
            np.repeat([1, 0], len(features)),
            sample_weight=np.concatenate([cells["k"], cells["n"] - cells["k"]]),
        )
        probabilities.append(fit.predict_proba(design)[:, 1])
        slopes.append(fit.coef_[0, 3:])
        n_cells.append(len(cells["k"]))
    assert n_cells[0] == n and n_cells[1] <= 3 * 12 * 12 < n
    assert np.abs(probabilities[1] - probabilities[0]).max() < 0.02
    np.testing.assert_allclose(slopes[1], slopes[0], atol=0.03)


def test_priors_merge_over_defaults(data):
    model = BayesianConversionModel(priors={"slope": {"sigma": 0.5}}).build_model(*data)
    *_, slope_mu, slope_sigma = model["slope"].owner.inputs
    assert (constant(slope_mu), constant(slope_sigma)) == (0.0, 0.5)
    *_, intercept_sigma = model["intercept"].owner.inputs
    assert constant(intercept_sigma) == DEFAULT_PRIORS["intercept"]["sigma"]
    assert DEFAULT_PRIORS["slope"]["sigma"] == 1.0  # the defaults are not mutated


@pytest.mark.parametrize(
    ("priors", "named"),
    [({"slopes": {"sigma": 1.0}}, "'slopes'"), ({"slope": {"scale": 1.0}}, "'scale'")],
)
def test_unknown_prior_key_raises_naming_it(data, priors, named):
    with pytest.raises(ValueError, match=named):
        BayesianConversionModel(priors=priors).build_model(*data)


def test_column_roles_are_inferred_and_missing_columns_named(data):
    X, y = data
    estimator = BayesianConversionModel()
    estimator.build_model(X, y)
    assert estimator.categorical_ == ["source", "region"]
    assert estimator.numeric_ == ["contacts", "budget"]
    with pytest.raises(ValueError, match="'owner' listed in categorical"):
        BayesianConversionModel(categorical=["owner"]).build_model(X, y)


# ---------------------------------------------------------------------- scoring
def test_predict_proba_shape_range_and_row_order(fitted, data):
    X, _ = data
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    order = np.random.default_rng(3).permutation(len(X))
    np.testing.assert_allclose(fitted.predict_proba(X.iloc[order]), proba[order])
    assert set(fitted.predict(X)) <= {0, 1}


def test_predict_proba_is_mean_of_probabilities_not_probability_of_mean(fitted, data):
    X, _ = data
    row = X.iloc[[0]]
    post = fitted.idata_.posterior
    eta = post["intercept"].to_numpy().ravel()
    for field in ("source", "region"):
        eta = (
            eta + post[f"b_{field}"].sel({f"{field}_level": str(row[field].iloc[0])}).values.ravel()
        )
    pair = f"{row['source'].iloc[0]} × {row['region'].iloc[0]}"
    eta = eta + post["b_source_region"].sel(source_region_level=pair).values.ravel()
    z = [
        (row["contacts"].iloc[0] - fitted.means_["contacts"]) / fitted.sds_["contacts"],
        (row["budget"].iloc[0] - fitted.means_["budget"]) / fitted.sds_["budget"],
        float(np.isnan(row["budget"].iloc[0])) - fitted.missing_share_["budget"],
    ]
    eta = eta + post["slope"].to_numpy().reshape(-1, 3) @ np.nan_to_num(z)
    assert fitted.predict_proba(row)[0, 1] == pytest.approx(expit(eta).mean())
    assert fitted.predict_proba(row)[0, 1] != pytest.approx(expit(eta.mean()), abs=1e-6)


def test_unseen_levels_score_at_population_rate_with_wider_interval(fitted, data):
    X, _ = data
    known = X.iloc[[0, 0, 0]].copy()
    known["source"] = known["source"].astype(object)
    known.iloc[1, known.columns.get_loc("source")] = "podcast"  # never seen
    known.iloc[2, known.columns.get_loc("source")] = np.nan
    out = fitted.predict_interval(known, prob=0.9)
    width = out["p_high"] - out["p_low"]
    assert (width.iloc[1:] > width.iloc[0]).all()
    assert out.iloc[1].tolist() == out.iloc[2].tolist()
    assert list(out.index) == list(known.index)
    assert list(out.columns) == ["p_mean", "p_low", "p_high"]
    assert (out["p_low"] <= out["p_mean"]).all() and (out["p_mean"] <= out["p_high"]).all()


def test_unseen_numeric_missing_value_scores_at_the_mean(fitted, data):
    X, _ = data
    row = X.iloc[[0, 0]].copy()
    row.iloc[1, row.columns.get_loc("contacts")] = np.nan
    row.iloc[0, row.columns.get_loc("contacts")] = fitted.means_["contacts"]
    proba = fitted.predict_proba(row)[:, 1]
    assert proba[0] == pytest.approx(proba[1])


# ---------------------------------------------------------------------- reading the posterior
def test_segment_table_columns_counts_and_thin_flag(fitted, data):
    X, y = data
    table = fitted.segment_table(prob=0.9)
    assert list(table.columns) == [
        "field",
        "level",
        "n",
        "observed_rate",
        "rate",
        "rate_low",
        "rate_high",
        "thin_data",
    ]
    source = table[table["field"] == "source"].set_index("level")
    assert list(source.index) == LEVELS  # declared categories, the unseen ones included
    counts = X["source"].value_counts()
    rates = pd.Series(y, index=X.index).groupby(X["source"].astype(str)).mean()
    for level in LEVELS[:3]:
        assert source.loc[level, "n"] == counts[level]
        assert source.loc[level, "observed_rate"] == pytest.approx(rates[level])
    assert source.loc["(other)", "n"] == 0 and np.isnan(source.loc["(other)", "observed_rate"])
    # seen levels' intervals come from the known ladder of fake draws: narrow; unseen: wide
    assert not source.loc[LEVELS[:3], "thin_data"].any()
    assert source.loc["(other)", "thin_data"]
    width = table["rate_high"] - table["rate_low"]
    assert table["thin_data"].tolist() == (width > fitted.thin_width).tolist()
    assert (table["field"] == "source × region").sum() == 9
    # rate: mean over draws of sigmoid(intercept + effect + region's row-weighted average)
    post = fitted.idata_.posterior
    share = X["region"].value_counts(normalize=True)
    region = sum(share[level] * post["b_region"].sel(region_level=level) for level in share.index)
    draws = post["intercept"] + post["b_source"].sel(source_level="referral") + region
    assert source.loc["referral", "rate"] == pytest.approx(float(expit(draws).mean()))


def test_numeric_effects_undo_the_standardisation(fitted, data):
    X, _ = data
    effects = fitted.numeric_effects(prob=0.9).set_index(["feature", "per"])
    assert list(effects.columns) == ["odds_ratio", "low", "high"]
    slope = fitted.idata_.posterior["slope"].sel(feature="contacts").to_numpy().ravel()
    sd = X["contacts"].std(ddof=0)
    assert fitted.sds_["contacts"] == pytest.approx(sd)
    row = effects.loc[("contacts", "+1 unit")]
    assert row["odds_ratio"] == pytest.approx(np.median(np.exp(slope / sd)))
    assert row["low"] == pytest.approx(np.quantile(np.exp(slope / sd), 0.05))
    assert row["low"] < row["odds_ratio"] < row["high"]
    assert ("budget", "missing vs recorded") in effects.index


def test_diagnostics_and_non_converged_warning(data, monkeypatch, fitted):
    diag = fitted.diagnostics()
    assert set(diag) == {
        "fit_seconds",
        "max_rhat",
        "min_ess_bulk",
        "divergences",
        "converged",
        "attempts",
        "at_fault",
    }
    assert diag["converged"] and diag["divergences"] == 0 and diag["at_fault"] == []
    assert diag["attempts"] == 1
    monkeypatch.setattr(
        bayes, "_sample", lambda model, **kw: fake_sample(model, divergences=3, **kw)
    )
    with pytest.warns(BayesConvergenceWarning, match="3 divergences"):
        model = BayesianConversionModel(draws=400).fit(*data)
    assert model.diagnostics()["converged"] is False
    assert model.diagnostics()["attempts"] == 2


@pytest.mark.parametrize("retry", [True, False])
def test_an_unconverged_first_run_is_sampled_again_more_carefully(data, monkeypatch, retry):
    runs = []

    def diverges_once(model, **kw):
        runs.append({k: kw[k] for k in ("tune", "draws", "target_accept")})
        return fake_sample(model, divergences=2 if len(runs) == 1 else 0, **kw)

    monkeypatch.setattr(bayes, "_sample", diverges_once)
    estimator = BayesianConversionModel(draws=400, tune=300, retry=retry)
    if retry:
        with warnings.catch_warnings():
            warnings.simplefilter("error", BayesConvergenceWarning)
            estimator.fit(*data)
        first, second = runs
        assert second["tune"] == 2 * first["tune"] == 600
        assert second["draws"] == first["draws"] == 400  # scoring cost unchanged
        assert 1.0 - second["target_accept"] == pytest.approx((1.0 - first["target_accept"]) / 2)
        assert estimator.diagnostics()["converged"] and estimator.diagnostics()["attempts"] == 2
    else:
        with pytest.warns(BayesConvergenceWarning, match="2 divergences"):
            estimator.fit(*data)
        assert len(runs) == 1 and estimator.diagnostics()["attempts"] == 1


def test_a_run_far_from_converging_is_not_sampled_again(data, monkeypatch):
    runs = []

    def far_off(model, **kw):  # 100 of 800 draws divergent: not a near miss
        runs.append(kw["tune"])
        return fake_sample(model, divergences=100, **kw)

    monkeypatch.setattr(bayes, "_sample", far_off)
    with pytest.warns(BayesConvergenceWarning, match="100 divergences"):
        estimator = BayesianConversionModel(draws=400).fit(*data)
    assert len(runs) == 1 and estimator.diagnostics()["attempts"] == 1


def test_non_converged_fit_names_the_field_at_fault(data, monkeypatch):
    def stuck_chain(model, **kw):
        idata = fake_sample(model, **kw)
        idata.posterior["b_source"][1] += 1.0  # the second chain sits elsewhere
        return idata

    monkeypatch.setattr(bayes, "_sample", stuck_chain)
    with pytest.warns(BayesConvergenceWarning, match="source.*merge the rare levels of 'source'"):
        model = BayesianConversionModel(draws=400).fit(*data)
    assert [f["name"] for f in model.diagnostics()["at_fault"]] == ["source"]


# ---------------------------------------------------------------------- persistence
def test_save_load_round_trip_is_identical(fitted, data, tmp_path):
    X, _ = data
    folder = fitted.save(tmp_path / "bayes")
    assert {p.name for p in folder.iterdir()} == {"posterior.nc", "model.json"}
    loaded = BayesianConversionModel.load(folder)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    pd.testing.assert_frame_equal(loaded.segment_table(), fitted.segment_table())
    pd.testing.assert_frame_equal(loaded.numeric_effects(), fitted.numeric_effects())
    assert loaded.get_params() == fitted.get_params()
    assert loaded.diagnostics() == fitted.diagnostics()


def test_pickle_round_trip_is_identical(fitted, data):
    X, _ = data
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.predict_proba(X), fitted.predict_proba(X))
    cloudpickle = pytest.importorskip("cloudpickle")
    clone = cloudpickle.loads(cloudpickle.dumps(fitted))
    np.testing.assert_array_equal(clone.predict_proba(X), fitted.predict_proba(X))


# ---------------------------------------------------------------------- scikit-learn contract
_MOCKED = "the mocked sampler returns fixed draws that ignore the data; see the recovery test"


def expected_failed_checks(estimator) -> dict[str, str]:
    """Checks that need a posterior learned from the data (never skipped silently)."""
    return dict.fromkeys(
        ["check_classifiers_train", "check_classifiers_train(readonly_memmap=True)"],
        _MOCKED,
    ) | {
        "check_classifiers_train(readonly_memmap=True,X_dtype=float32)": _MOCKED,
    }


@parametrize_with_checks(
    [BayesianConversionModel(draws=10, tune=10)],
    expected_failed_checks=expected_failed_checks,
    xfail_strict=True,
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesConvergenceWarning)
        check(estimator)
