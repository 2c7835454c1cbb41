"""Feature builders: the as-of rule, the scikit-learn contract, and CRM-specific behaviour."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from crm_predict.config import load_config
from crm_predict.data.loading import load_task_data
from crm_predict.features import (
    AS_OF,
    ActivityAggregator,
    CategoricalEncoder,
    DateFeatures,
    EngagementFeatures,
    NumericTransformer,
    SizeBands,
    build_feature_pipeline,
    build_model_frame,
    field_of,
)
from crm_predict.features.categorical import MISSING, OTHER

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
N_LEADS, SEED = 2000, 3


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_config():
    """configs/leads_demo.yaml on a small synthetic CRM (make_leads(2000, seed=3))."""
    small = {"synthetic": {"n_leads": N_LEADS, "seed": SEED}}
    return load_config(
        CONFIGS / "leads_demo.yaml", overrides={"source": small, "activities": small}
    )


@pytest.fixture(scope="module")
def demo_data(demo_config):
    return load_task_data(demo_config)


@pytest.fixture(scope="module")
def demo_frame(demo_data, demo_config):
    frame, aggregator = build_model_frame(demo_data, demo_config)
    return frame, aggregator


def touches(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["lead_id", "timestamp", "type", "direction"]).assign(
        timestamp=lambda f: pd.to_datetime(f["timestamp"])
    )


def aggregator(**params) -> ActivityAggregator:
    return ActivityAggregator(type_column="type", direction_column="direction", **params)


# --- the as-of rule (house rule 2) ---------------------------------------------------------


BASE_TOUCHES = [
    ("a", "2024-01-01", "call", "out"),
    ("a", "2024-01-20", "email", "out"),
    ("a", "2024-01-28", "meeting", "in"),
    ("b", "2024-01-05", "email", "in"),
    ("c", "2024-02-10", "call", "out"),
]
LATER_TOUCHES = [
    ("a", "2024-02-01", "demo", "in"),  # exactly at a's as_of: already the future
    ("a", "2024-03-15", "call", "in"),
    ("b", "2024-06-01", "proposal", "out"),
    ("c", "2024-05-01", "meeting", "in"),
]


@pytest.mark.parametrize(
    "as_of",
    [
        pd.Timestamp("2024-02-01"),
        pd.Series(
            pd.to_datetime(["2024-02-01", "2024-03-01", "2024-04-01"]), index=["a", "b", "c"]
        ),
    ],
    ids=["one date", "per lead"],
)
def test_activity_after_as_of_changes_nothing(as_of):
    before = touches(BASE_TOUCHES)
    with_future = touches(BASE_TOUCHES + LATER_TOUCHES)
    agg = aggregator(as_of=as_of).fit(before)
    expected = agg.transform(before)
    pd.testing.assert_frame_equal(agg.transform(with_future), expected)
    # Refitting on the longer table learns no new mix column either.
    refit = aggregator(as_of=as_of).fit(with_future)
    got = refit.transform(with_future)[expected.columns]
    pd.testing.assert_frame_equal(got, expected)


def test_removing_an_earlier_activity_changes_the_features():
    as_of = pd.Timestamp("2024-02-01")
    full = touches(BASE_TOUCHES)
    agg = aggregator(as_of=as_of).fit(full)
    before = agg.transform(full)
    after = agg.transform(full.drop(index=1))  # a's e-mail of 2024-01-20
    assert after.loc["a", "touches_total"] == before.loc["a", "touches_total"] - 1
    assert after.loc["a", "touch_share__email"] == 0
    pd.testing.assert_frame_equal(after.drop(index="a"), before.drop(index="a"))


def test_activity_aggregates_are_what_they_say():
    agg = aggregator(as_of=pd.Timestamp("2024-02-01")).fit(touches(BASE_TOUCHES))
    out = agg.transform(touches(BASE_TOUCHES + LATER_TOUCHES))
    a = out.loc["a"]
    assert a["touches_total"] == 3
    assert a["touches_7d"] == 1  # 2024-01-28 is 4 days before
    assert a["touches_30d"] == 2  # 2024-01-01 is 31 days before
    assert a["touches_90d"] == 3
    assert a["days_since_first_touch"] == 31
    assert a["days_since_last_touch"] == 4
    assert a["touch_share__call"] == pytest.approx(1 / 3)
    assert a["touch_direction__out"] == pytest.approx(2 / 3)
    # c's only touch is after the date: c has no row (the model frame fills it in).
    assert "c" not in out.index
    assert agg.empty_row()["touches_total"] == 0
    assert np.isnan(agg.empty_row()["days_since_last_touch"])


def test_model_frame_never_sees_past_a_close_date(demo_data, demo_config, demo_frame):
    frame, _ = demo_frame
    closed = demo_data.frame[demo_config.time.closed]
    is_closed = closed.notna()
    assert is_closed.sum() > 100
    assert (frame.loc[is_closed, AS_OF] <= closed[is_closed]).all()
    assert (frame[AS_OF] <= demo_data.as_of).all()

    # Deals that close within days of creation are seen no later than their close date.
    created = demo_data.frame[demo_config.time.created]
    quick = demo_data.frame.index[is_closed][::10]
    early = demo_data.frame.copy()
    early.loc[quick, demo_config.time.closed] = created[quick] + pd.Timedelta(hours=36)
    again, _ = build_model_frame(dataclasses.replace(demo_data, frame=early), demo_config)
    assert (again.loc[quick, AS_OF] <= early.loc[quick, demo_config.time.closed]).all()
    assert (again.loc[quick, AS_OF] >= created[quick]).all()


def future_touches(data, config, frame) -> pd.DataFrame:
    """Copies of real touches (same types) moved to each lead's as_of and up to 40 days on."""
    spec = config.activities
    cut = pd.Series(frame[AS_OF].to_numpy(), index=frame[config.id_column].astype(str))
    n = len(cut)
    extra = data.activities.sample(n=2 * n, replace=True, random_state=0)
    extra = extra.reset_index(drop=True)
    leads = np.tile(cut.index.to_numpy(), 2)
    # One touch exactly at each lead's as_of (already the future), one later.
    days = np.r_[np.zeros(n), np.random.default_rng(0).uniform(0.01, 40, n)]
    extra[spec.id_column] = leads
    extra[spec.time_column] = cut.loc[leads].to_numpy() + pd.to_timedelta(days, unit="D")
    return extra


def test_model_frame_ignores_activity_after_each_leads_as_of(demo_data, demo_config, demo_frame):
    frame, agg = demo_frame
    extra = future_touches(demo_data, demo_config, frame)
    # Every extra touch lies on or after its lead's as_of (the close date for closed leads).
    cut = frame.set_index(demo_config.id_column)[AS_OF]
    assert (extra["timestamp"].to_numpy() >= cut.loc[extra["lead_id"]].to_numpy()).all()
    longer = dataclasses.replace(
        demo_data, activities=pd.concat([demo_data.activities, extra], ignore_index=True)
    )
    again, agg2 = build_model_frame(longer, demo_config)
    pd.testing.assert_frame_equal(again, frame)
    assert list(agg2.get_feature_names_out()) == list(agg.get_feature_names_out())

    # And through the whole feature pipeline.
    acts = list(agg.get_feature_names_out())
    first = build_feature_pipeline(demo_config, acts).fit_transform(frame)
    second = build_feature_pipeline(demo_config, acts).fit_transform(again)
    pd.testing.assert_frame_equal(first, second)


def test_model_frame_drops_the_synthetic_post_close_touches(demo_data, demo_config, demo_frame):
    """Won leads have onboarding touches after closing; without them nothing changes."""
    frame, _ = demo_frame
    acts = demo_data.activities
    cut = frame.set_index(demo_config.id_column)[AS_OF]
    early = acts["timestamp"].to_numpy() < cut.loc[acts["lead_id"]].to_numpy()
    assert (~early).sum() > 100  # the generator's leak is there to be stopped
    trimmed = dataclasses.replace(demo_data, activities=acts[early].reset_index(drop=True))
    again, _ = build_model_frame(trimmed, demo_config)
    pd.testing.assert_frame_equal(again, frame)


def test_model_frame_sees_activity_before_as_of(demo_data, demo_config, demo_frame):
    frame, _ = demo_frame
    acts = demo_data.activities
    cut = frame.set_index(demo_config.id_column)[AS_OF]
    early = np.flatnonzero(acts["timestamp"].to_numpy() < cut.loc[acts["lead_id"]].to_numpy())
    assert len(early) > 100
    drop = early[len(early) // 2]
    lead = acts.loc[drop, "lead_id"]
    fewer = dataclasses.replace(demo_data, activities=acts.drop(index=drop))
    again, _ = build_model_frame(fewer, demo_config)
    row = frame[demo_config.id_column] == lead
    assert again.loc[row, "touches_total"].item() == frame.loc[row, "touches_total"].item() - 1
    pd.testing.assert_frame_equal(again.loc[~row], frame.loc[~row])


# --- the scikit-learn contract (house rule 3) ----------------------------------------------

_CATEGORICAL_OUTPUT = (
    "transform returns pandas categorical columns of text levels (by design: LightGBM reads "
    "them natively); this check compares outputs with assert_allclose, which cannot subtract "
    "strings. Pickling, idempotence and row-order invariance are tested directly below."
)
_DATAFRAME_OUTPUT = (
    "transform always returns a pandas DataFrame (house rule 1) with float64 columns; the "
    "check reads ndarray `.dtype`, which a DataFrame does not have"
)
_FOUR_COLUMNS = (
    "EngagementFeatures reads exactly four columns (created, as_of, touches_total, "
    "days_since_first_touch) and rejects any other width; this check fits it on a table of "
    "another width. Its contract is tested directly on four-column input below."
)
_CATEGORICAL_CHECKS = [
    "check_estimators_pickle",
    "check_estimators_pickle(readonly_memmap=True)",
    "check_fit_idempotent",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_pipeline_consistency",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_general(readonly_memmap=True)",
]
_FOUR_COLUMN_CHECKS = [
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_estimators_pickle(readonly_memmap=True)",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_pipeline_consistency",
    "check_readonly_memmap_input",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_general(readonly_memmap=True)",
    "check_transformer_preserve_dtypes",
]


def expected_failed_checks(estimator) -> dict[str, str]:
    """Checks each transformer cannot pass, with the reason (never skipped silently)."""
    if isinstance(estimator, (CategoricalEncoder, SizeBands)):
        return dict.fromkeys(_CATEGORICAL_CHECKS, _CATEGORICAL_OUTPUT)
    if isinstance(estimator, EngagementFeatures):
        return dict.fromkeys(_FOUR_COLUMN_CHECKS, _FOUR_COLUMNS)
    if isinstance(estimator, (NumericTransformer, DateFeatures)):
        return {"check_transformer_preserve_dtypes": _DATAFRAME_OUTPUT}
    return {}


# ActivityAggregator is not in this list: it reads an activity table by column name and
# returns one row per lead id, not one row per input row, and needs an as_of date; the
# generic checks feed it anonymous numeric matrices. Its contract is tested directly below.
@parametrize_with_checks(
    [
        CategoricalEncoder(min_count=1),
        NumericTransformer(),
        DateFeatures(age=True, calendar=True),
        SizeBands(),
        EngagementFeatures(),
    ],
    expected_failed_checks=expected_failed_checks,
    xfail_strict=True,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def engagement_input(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.uniform(0, 300, n), unit="D")
    as_of = created + pd.to_timedelta(rng.uniform(0, 60, n), unit="D")
    total = rng.poisson(4, n).astype(float)
    first = rng.uniform(0, 1, n) * (as_of - created) / pd.Timedelta(days=1)
    return pd.DataFrame(
        {
            "created_at": created,
            AS_OF: as_of,
            "touches_total": total,
            "days_since_first_touch": np.where(total > 0, first, np.nan),
        }
    )


def categorical_input(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    src = rng.choice(["web", "referral", "event", "tv", None], n, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    return pd.DataFrame({"source": src, "region": rng.choice(["EU", "US"], n)})


def employees_input(n: int = 60, seed: int = 0) -> pd.DataFrame:
    employees = np.random.default_rng(seed).lognormal(5, 1.5, n).round()
    employees[::7] = np.nan
    return pd.DataFrame({"employees": employees})


CONTRACT_CASES = [
    pytest.param(CategoricalEncoder(min_count=5), categorical_input, id="CategoricalEncoder"),
    pytest.param(SizeBands(), employees_input, id="SizeBands"),
    pytest.param(EngagementFeatures(), engagement_input, id="EngagementFeatures"),
]


@pytest.mark.parametrize(("estimator", "make"), CONTRACT_CASES)
def test_contract_of_transformers_the_generic_checks_cannot_compare(estimator, make):
    X = make()
    fitted = clone(estimator).fit(X)
    out = fitted.transform(X)
    assert list(out.columns) == list(fitted.get_feature_names_out())
    assert out.index.equals(X.index)
    # fit is idempotent and does not depend on what it saw before.
    refit = clone(estimator).fit(make(seed=1)).fit(X)
    pd.testing.assert_frame_equal(refit.transform(X), out)
    # Pickle round trip scores identically.
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(fitted)).transform(X), out)
    # Rows are transformed independently of their order and of the other rows.
    order = np.random.default_rng(0).permutation(len(X))
    shuffled = fitted.transform(X.iloc[order])
    pd.testing.assert_frame_equal(shuffled, out.iloc[order])
    pd.testing.assert_frame_equal(fitted.transform(X.iloc[:5]), out.iloc[:5])
    # Arrays work like frames, and a wrong width is refused.
    array_out = clone(estimator).fit(X.to_numpy()).transform(X.to_numpy())
    assert array_out.shape == out.shape
    with pytest.raises(ValueError, match="feature"):
        fitted.transform(X.assign(unexpected=0.0))
    with pytest.raises(ValueError, match="feature"):
        clone(estimator).fit(X.to_numpy()).transform(X.to_numpy()[:, 1:])


def test_engagement_features_values():
    X = engagement_input()
    out = EngagementFeatures().fit(X).transform(X)
    age = (X[AS_OF] - X["created_at"]) / pd.Timedelta(days=1)
    np.testing.assert_allclose(out["touches_per_week"], X["touches_total"] / (age.clip(1) / 7))
    np.testing.assert_allclose(out["days_to_first_touch"], age - X["days_since_first_touch"])
    with pytest.raises(ValueError, match="3 feature"):
        EngagementFeatures().fit(X.iloc[:, :3])


def test_date_features_age_and_calendar():
    X = pd.DataFrame(
        {
            "created_at": pd.to_datetime(["2024-01-01", "2024-03-15", None]),
            AS_OF: pd.to_datetime(["2024-01-11", "2024-04-01", "2024-04-01"]),
        }
    )
    t = DateFeatures(age=True, calendar=True).fit(X)
    out = t.transform(X)
    assert list(out.columns) == ["created_at__age_days", "created_at__weekday", "created_at__month"]
    assert out["created_at__age_days"].tolist()[:2] == [10.0, 17.0]
    assert out["created_at__weekday"].tolist()[:2] == [0.0, 4.0]
    assert out.iloc[2].isna().all()
    with pytest.raises(ValueError, match="1 feature"):
        DateFeatures().fit(X[["created_at"]])


# --- ActivityAggregator's own contract ---------------------------------------------------
# Not run through parametrize_with_checks (see above): its input is a touch table, its
# output is indexed by lead id, and transform needs as_of.


def test_activity_aggregator_contract():
    acts = touches(BASE_TOUCHES + LATER_TOUCHES)
    agg = aggregator(windows=(14,), as_of=pd.Timestamp("2024-02-01"))
    with pytest.raises(NotFittedError):
        agg.transform(acts)
    assert agg.fit(acts) is agg
    assert agg.types_ == ["call", "demo", "email", "meeting", "proposal"]
    assert agg.directions_ == ["in", "out"]
    out = agg.transform(acts)
    assert list(out.columns) == list(agg.get_feature_names_out())
    assert "touches_14d" in out.columns and "touches_30d" not in out.columns
    assert out.index.name == "lead_id"

    copy = clone(agg)
    assert copy.get_params() == agg.get_params()
    assert not hasattr(copy, "types_")
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(agg)).transform(acts), out)

    # A touch type first seen at scoring time adds no column.
    novel = pd.concat([acts, touches([("b", "2024-01-06", "sms", "out")])], ignore_index=True)
    assert list(agg.transform(novel).columns) == list(out.columns)
    assert agg.transform(novel).loc["b", "touches_total"] == 2

    with pytest.raises(ValueError, match="as_of"):
        aggregator().fit(acts).transform(acts)


def test_activity_aggregator_without_type_columns():
    acts = touches(BASE_TOUCHES)[["lead_id", "timestamp"]]
    agg = ActivityAggregator(as_of="2024-02-01").fit(acts)
    out = agg.transform(acts)
    assert list(out.columns) == list(agg.get_feature_names_out())
    assert not any(c.startswith("touch_") for c in out.columns)


# --- categorical encoding ------------------------------------------------------------------


def test_unseen_categories_become_other_and_missing_becomes_missing():
    train = pd.DataFrame({"source": ["web"] * 5 + ["referral"] * 3 + [None, "N/A"]})
    enc = CategoricalEncoder(min_count=1).fit(train)
    score = pd.DataFrame({"source": ["web", "tv", None, np.nan, "referral", "podcast"]})
    out = enc.transform(score)["source"]
    assert out.tolist() == ["web", OTHER, MISSING, MISSING, "referral", OTHER]


def test_rare_levels_are_grouped_into_other():
    train = pd.DataFrame({"source": ["web"] * 10 + ["event"] * 3 + ["tv"] * 2 + ["fax"]})
    enc = CategoricalEncoder(min_count=3).fit(train)
    assert enc.categories_["source"] == ["event", "web", OTHER, MISSING]
    out = enc.transform(train)["source"]
    assert (out == OTHER).sum() == 3
    assert (out == "event").sum() == 3


def test_train_and_score_frames_get_identical_categoricals():
    rng = np.random.default_rng(1)
    train = pd.DataFrame(
        {"source": rng.choice(["web", "event", "tv"], 200), "flag": rng.choice([True, False], 200)}
    )
    score = pd.DataFrame({"source": ["tv", "brand new", None], "flag": [True, None, False]})
    enc = CategoricalEncoder(min_count=1).fit(train)
    a, b = enc.transform(train), enc.transform(score)
    for col in train.columns:
        assert isinstance(a[col].dtype, pd.CategoricalDtype)
        assert a[col].dtype == b[col].dtype
        assert list(a[col].cat.categories) == enc.categories_[col]
    assert b["flag"].tolist() == ["True", MISSING, "False"]


def test_a_level_spelled_like_a_reserved_one_does_not_break_the_encoder():
    train = pd.DataFrame({"source": ["web", "(other)", "(missing)", "web"]})
    enc = CategoricalEncoder(min_count=1).fit(train)
    assert enc.categories_["source"] == ["web", OTHER, MISSING]
    assert enc.transform(train)["source"].tolist() == ["web", OTHER, OTHER, "web"]


def test_encoder_refuses_other_columns_at_transform():
    enc = CategoricalEncoder(min_count=1).fit(pd.DataFrame({"source": ["a"], "region": ["b"]}))
    with pytest.raises(ValueError, match="feature names"):
        enc.transform(pd.DataFrame({"region": ["b"], "source": ["a"]}))


# --- numeric and size bands ----------------------------------------------------------------


def test_numeric_transformer_log1p_skewed_non_negative_columns():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "web_visits": rng.negative_binomial(1, 0.05, 500).astype(float),  # skewed, >= 0
            "score": rng.normal(0, 1, 500),  # symmetric
            "balance": -rng.exponential(10, 500) + 5,  # skewed but has negatives
        }
    )
    X.loc[3, "web_visits"] = np.nan
    t = NumericTransformer().fit(X)
    assert t.log_columns_ == ["web_visits"]
    assert list(t.get_feature_names_out()) == ["web_visits__log1p", "score", "balance"]
    out = t.transform(X)
    assert list(out.columns) == list(t.get_feature_names_out())
    np.testing.assert_allclose(out["web_visits__log1p"], np.log1p(X["web_visits"]))
    assert np.isnan(out.loc[3, "web_visits__log1p"])
    np.testing.assert_allclose(out["score"], X["score"])
    # Never transforms when told not to.
    plain = NumericTransformer(skew_threshold=None).fit(X)
    assert list(plain.get_feature_names_out()) == list(X.columns)


def test_a_moderately_skewed_number_is_logged_only_when_the_outcome_says_so():
    rng = np.random.default_rng(1)
    n = 4000
    X = pd.DataFrame({"tenure": rng.gamma(8.0, 1.0, n), "charges": rng.gamma(8.0, 10.0, n)})
    assert all(0.5 < X[c].skew() < 1.0 for c in X)  # moderate: below the always-log bar
    logit = (
        2.5 * (np.log1p(X["tenure"]) - np.log1p(X["tenure"]).mean())
        - 0.2 * (X["charges"] - X["charges"].mean()) / X["charges"].std() * 3
    )
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    assert NumericTransformer().fit(X, y).log_columns_ == ["tenure"]
    assert NumericTransformer().fit(X).log_columns_ == []  # no outcome: skewness alone
    assert NumericTransformer(moderate_skew=None).fit(X, y).log_columns_ == []
    assert NumericTransformer().fit(X, rng.normal(size=n)).log_columns_ == []  # not 0/1


def test_numeric_transformer_parses_numbers_written_as_text():
    X = pd.DataFrame({"revenue": ["1.5", "2", None, "n/a"]})
    out = NumericTransformer(skew_threshold=None).fit(X).transform(X)
    assert out["revenue"].tolist()[:2] == [1.5, 2.0]
    assert out["revenue"][2:].isna().all()


def test_size_bands_cut_at_edges():
    X = pd.DataFrame({"employees": [1, 49, 50, 249, 250, 999, 1000, 50000, None]})
    out = SizeBands().fit(X).transform(X)["employees__band"]
    assert out.tolist() == [
        "small",
        "small",
        "mid",
        "mid",
        "large",
        "large",
        "enterprise",
        "enterprise",
        "(missing)",
    ]
    assert list(out.cat.categories) == ["small", "mid", "large", "enterprise", "(missing)"]
    with pytest.raises(ValueError, match="one more label"):
        SizeBands(edges=(10,), labels=("a",)).fit(X)
    with pytest.raises(ValueError, match="increasing"):
        SizeBands(edges=(100, 10), labels=("a", "b", "c")).fit(X)


# --- the assembled pipeline ----------------------------------------------------------------


def test_every_pipeline_output_maps_to_a_crm_field(demo_config, demo_frame):
    frame, agg = demo_frame
    acts = list(agg.get_feature_names_out())
    pipe = build_feature_pipeline(demo_config, acts)
    out = pipe.fit_transform(frame)
    names = list(pipe.get_feature_names_out())
    assert names == list(out.columns)
    assert len(set(names)) == len(names)
    f = demo_config.features
    config_fields = {
        *f.model_fields_for("categorical"),
        *f.model_fields_for("numeric"),
        *f.model_fields_for("count"),
        *f.model_fields_for("date"),
        f.size_bands.column,
        demo_config.time.created,
    }
    # Activity aggregates, the type/direction mixes grouped by family, and the pace
    # features derived from them.
    activity = {field_of(a) for a in acts} | set(EngagementFeatures().get_feature_names_out())
    fields = {field_of(n) for n in names}
    assert fields <= config_fields | activity, fields - config_fields - activity
    # And every field the config asks for is in the model.
    assert config_fields <= fields
    assert {field_of(n) for n in names if n.startswith("employees")} == {"employees"}
    assert "employees__band" in names


def test_pipeline_output_is_pandas_with_categoricals_and_floats(demo_config, demo_frame):
    frame, agg = demo_frame
    train, score = frame.iloc[:1500], frame.iloc[1500:]
    pipe = build_feature_pipeline(demo_config, list(agg.get_feature_names_out())).fit(train)
    a, b = pipe.transform(train), pipe.transform(score)
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        assert a[col].dtype == b[col].dtype, col
        assert isinstance(a[col].dtype, pd.CategoricalDtype) or a[col].dtype == float, col
    assert isinstance(a["source"].dtype, pd.CategoricalDtype)
    assert b.index.equals(score.index)


def test_pipeline_without_features_is_refused(demo_config):
    empty = demo_config.model_copy(
        update={
            "features": demo_config.features.model_copy(
                update={"categorical": [], "numeric": [], "count": [], "size_bands": None}
            ),
            "time": demo_config.time.model_copy(update={"created": None}),
        }
    )
    with pytest.raises(ValueError, match="no features"):
        build_feature_pipeline(empty)


def test_field_of():
    assert field_of("web_visits__log1p") == "web_visits"
    assert field_of("employees__band") == "employees"
    assert field_of("created_at__month") == "created_at"
    assert field_of("source") == "source"
