"""Why a lead scored as it did: per-field contributions of the LightGBM, logistic and Bayesian
models.

LightGBM: the model's log-odds blend a logistic regression and LightGBM boosters. The boosters'
part comes from exact TreeSHAP (:mod:`crm_predict.explain.treeshap`), the logistic part is exact for
a linear model (coefficient × distance from the training mean). Both are summed per CRM field (all
columns derived from ``source`` give one ``source`` number), then converted to percentage points of
the calibrated probability so that, per lead, the base rate plus the field contributions equals the
score.

Bayesian model: its posterior-mean log-odds are additive (intercept + level effects +
slopes), so each field's share is exact in log-odds; it is converted to points the same
way. :func:`contributions` picks the right one for a pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.pipeline import Pipeline

from crm_predict.explain.tree_cache import blend_ensemble
from crm_predict.features.assemble import field_of
from crm_predict.models.baseline import LogisticBaseline
from crm_predict.models.gbm import CalibratedLGBM


@dataclass
class Contributions:
    """Per-lead, per-field contributions.

    Attributes
    ----------
    fields : list of str
        CRM field per column.
    log_odds : ndarray, shape (n, n_fields)
        Contributions to the uncalibrated log-odds.
    base_log_odds : ndarray, shape (n,)
        Expected log-odds over the training data.
    points : ndarray, shape (n, n_fields)
        Contributions in probability units (0.05 = 5 percentage points).
    p : ndarray, shape (n,)
        Calibrated probability; ``p_base + points.sum(1) == p``.
    p_base : ndarray, shape (n,)
        Calibrated probability at the base log-odds.
    """

    fields: list[str]
    log_odds: np.ndarray
    base_log_odds: np.ndarray
    points: np.ndarray
    p: np.ndarray
    p_base: np.ndarray


def _add_columns(out: np.ndarray, to: list[int], columns: np.ndarray) -> None:
    """``out[:, to[j]] += columns[:, j]`` for each j in order: ``np.add.at`` on the
    transposes, the same sums in the same order, a column at a time instead of a cell."""
    for j, k in enumerate(to):
        out[:, k] += columns[:, j]


def _model_input(
    pipeline: Pipeline, frame: pd.DataFrame, features: pd.DataFrame | None
) -> pd.DataFrame:
    """What the model reads: ``features`` when given, else the pipeline's steps on ``frame``."""
    return pipeline[:-1].transform(frame) if features is None else features


def _linear_parts(
    base: Pipeline, mean: np.ndarray, X: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Exact contributions of one logistic regression, one column per input feature."""
    encode, logreg = base[:-1], base[-1]
    encoded = np.asarray(encode.transform(X), dtype=float)
    coef = logreg.coef_[0]
    per_column = (encoded - mean) * coef
    owners: list[str] = []
    ct = encode[0]
    for name, transformer, columns in ct.transformers_:
        if name == "remainder" or transformer == "drop" or len(columns) == 0:
            continue
        if name == "categories":
            for col, cats in zip(columns, transformer.categories_, strict=True):
                owners += [col] * len(cats)
        else:
            imputer = transformer[0]
            owners += list(columns)
            if imputer.indicator_ is not None:
                owners += [columns[j] for j in imputer.indicator_.features_]
    features = list(dict.fromkeys(owners))
    index = {f: i for i, f in enumerate(features)}
    grouped = np.zeros((len(X), len(features)))
    _add_columns(grouped, [index[o] for o in owners], per_column)
    base_value = np.full(len(X), float(logreg.intercept_[0] + coef @ mean))
    return grouped, base_value, features


def field_contributions(
    pipeline: Pipeline, frame: pd.DataFrame, features: pd.DataFrame | None = None
) -> Contributions:
    """Exact per-field contributions of a trained crm_predict LightGBM pipeline.

    The model's log-odds are ``weight`` × the logistic regression + (1 − ``weight``) × the
    mean of the fold boosters; both shares are exact, so they add up.

    Parameters
    ----------
    pipeline : Pipeline
        ``clean`` → ``features`` → :class:`CalibratedLGBM`.
    frame : DataFrame
        Raw rows, as for ``pipeline.predict_proba``.
    features : DataFrame, optional
        ``pipeline[:-1].transform(frame)`` when the caller has it already.

    Returns
    -------
    Contributions
    """
    model: CalibratedLGBM = pipeline[-1]
    blend = model.model_
    X = _model_input(pipeline, frame, features)
    fields = list(dict.fromkeys(field_of(f) for f in X.columns))
    position = {f: i for i, f in enumerate(fields)}
    log_odds = np.zeros((len(X), len(fields)))
    base_log_odds = np.zeros(len(X))
    if blend.weight < 1:
        groups = [field_of(f) for f in X.columns]
        tree, tree_base, names = blend_ensemble(blend).contributions(X, groups=groups)
        _add_columns(log_odds, [position[g] for g in names], tree)
        base_log_odds += tree_base
    if blend.weight > 0:
        linear, linear_base, owners = _linear_parts(blend.linear, blend.linear_mean, X)
        _add_columns(log_odds, [position[field_of(o)] for o in owners], blend.weight * linear)
        base_log_odds += blend.weight * linear_base
    raw = log_odds.sum(axis=1)
    p = model.calibrate(base_log_odds + raw)  # exact shares: no second pass over the model
    p_base = model.calibrate(base_log_odds)
    scale = np.divide(p - p_base, raw, out=np.zeros_like(raw), where=np.abs(raw) > 1e-12)
    points = log_odds * scale[:, None]
    return Contributions(fields, log_odds, base_log_odds, points, p, p_base)


def linear_contributions(
    pipeline: Pipeline, frame: pd.DataFrame, features: pd.DataFrame | None = None
) -> Contributions:
    """Exact per-field contributions of a trained logistic-baseline pipeline.

    Each field's share is coefficient × distance from the average training lead, summed
    over the field's encoded columns; the base is the average lead's probability.

    Parameters
    ----------
    pipeline : Pipeline
        ``clean`` → ``features`` → :class:`~crm_predict.models.baseline.LogisticBaseline`.
    frame : DataFrame
        Raw rows.
    features : DataFrame, optional
        ``pipeline[:-1].transform(frame)`` when the caller has it already.

    Returns
    -------
    Contributions
    """
    model: LogisticBaseline = pipeline[-1]
    X = _model_input(pipeline, frame, features)
    fields = list(dict.fromkeys(field_of(f) for f in X.columns))
    position = {f: i for i, f in enumerate(fields)}
    log_odds = np.zeros((len(X), len(fields)))
    linear, base, owners = _linear_parts(model.linear_, model.linear_mean_, X)
    _add_columns(log_odds, [position[field_of(o)] for o in owners], linear)
    raw = log_odds.sum(axis=1)
    p, p_base = expit(base + raw), expit(base)
    scale = np.divide(p - p_base, raw, out=np.zeros_like(raw), where=np.abs(raw) > 1e-12)
    return Contributions(fields, log_odds, base, log_odds * scale[:, None], p, p_base)


def bayes_contributions(
    pipeline: Pipeline,
    frame: pd.DataFrame,
    p: np.ndarray | None = None,
    features: pd.DataFrame | None = None,
) -> Contributions:
    """Per-field contributions of a trained Bayesian pipeline, from its posterior means.

    The base is the population rate (``sigmoid`` of the mean intercept: every field at its
    average level, numerics at their mean); per lead, the base plus the contributions equals
    the posterior-mean probability.

    Parameters
    ----------
    pipeline : Pipeline
        ``clean`` → ``features`` → ``select`` →
        :class:`~crm_predict.models.bayes.model.BayesianConversionModel`.
    frame : DataFrame
        Raw rows.
    p : ndarray, optional
        The rows' posterior-mean probabilities when already computed (with an interval);
        one pass over the posterior draws is the expensive part.
    features : DataFrame, optional
        ``pipeline[:-1].transform(frame)`` when the caller has it already.

    Returns
    -------
    Contributions

    Examples
    --------
    >>> c = bayes_contributions(pipeline, leads)  # doctest: +SKIP
    >>> np.allclose(c.p_base + c.points.sum(axis=1), c.p)  # doctest: +SKIP
    True
    """
    model = pipeline[-1]
    X = _model_input(pipeline, frame, features)
    terms, intercept = model.log_odds_terms(X)
    owners = [field_of(c) for c in terms.columns]
    fields = list(dict.fromkeys(owners))
    log_odds = np.zeros((len(X), len(fields)))
    _add_columns(log_odds, [fields.index(o) for o in owners], terms.to_numpy())
    p = model.predict_proba(X)[:, 1] if p is None else np.asarray(p, dtype=float)
    base = np.full(len(X), intercept)
    p_base = 1.0 / (1.0 + np.exp(-base))
    raw = log_odds.sum(axis=1)
    scale = np.divide(p - p_base, raw, out=np.zeros_like(raw), where=np.abs(raw) > 1e-12)
    return Contributions(fields, log_odds, base, log_odds * scale[:, None], p, p_base)


def contributions(
    pipeline: Pipeline, frame: pd.DataFrame, features: pd.DataFrame | None = None
) -> Contributions:
    """Per-field contributions of any explainable crm_predict pipeline.

    Parameters
    ----------
    pipeline : Pipeline
        A trained LightGBM or Bayesian pipeline.
    frame : DataFrame
        Raw rows.
    features : DataFrame, optional
        ``pipeline[:-1].transform(frame)`` when the caller has it already (scoring builds
        it once for the model, the reasons' values and the interval).

    Returns
    -------
    Contributions

    Raises
    ------
    TypeError
        For a model without per-field contributions.
    """
    if isinstance(pipeline[-1], CalibratedLGBM):
        return field_contributions(pipeline, frame, features)
    if isinstance(pipeline[-1], LogisticBaseline):
        return linear_contributions(pipeline, frame, features)
    if hasattr(pipeline[-1], "log_odds_terms"):  # Bayesian; not imported: PyMC is slow to load
        return bayes_contributions(pipeline, frame, features=features)
    raise TypeError(f"{type(pipeline[-1]).__name__} has no per-field contributions")


def explainable(pipeline: Pipeline) -> bool:
    """Whether :func:`contributions` can explain this pipeline."""
    model = pipeline[-1]
    return isinstance(model, (CalibratedLGBM, LogisticBaseline)) or hasattr(model, "log_odds_terms")
