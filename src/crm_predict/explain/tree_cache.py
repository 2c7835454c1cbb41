"""Trees parsed once per model: the entry points that keep a :class:`TreeEnsemble` per booster
or blend while it lives, so scoring chunk after chunk parses the model once."""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd

from crm_predict.explain.treeshap import TreeEnsemble

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # booster -> (stamp, trees)
_BLENDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # blend -> trees


def grouped_contributions(
    booster: lgb.Booster,
    X: pd.DataFrame,
    groups: Sequence[str] | Mapping[str, str] | None = None,
    n_jobs: int = 2,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Exact per-row SHAP values of a LightGBM model, summed per group of features.

    Parameters
    ----------
    booster : lightgbm.Booster
        A binary or regression model (one tree per round, no linear trees). Its parsed
        form is kept while the booster lives and gains no trees, so scoring chunk after
        chunk parses it once.
    X : pandas.DataFrame
        Frame like the training one: ``category`` columns with the training categories
        (unseen levels and NaN count as missing), numeric columns with NaN.
    groups : sequence or mapping of str, optional
        Group of each model feature: a list in ``booster.feature_name()`` order, or a
        mapping from feature to group. ``None`` keeps each feature in its own group.
    n_jobs : int, default 2
        Threads (``-1``: one per core).

    Returns
    -------
    contrib : ndarray of shape (n_rows, n_groups)
        ``booster.predict(X, pred_contrib=True)`` summed per group.
    base_value : ndarray of shape (n_rows,)
        The expected raw score: ``contrib.sum(1) + base_value`` is the raw score.
    group_names : list of str
        Columns of ``contrib``, in order of each group's first feature.

    Examples
    --------
    >>> groups = {f: f.split("__")[0] for f in booster.feature_name()}  # doctest: +SKIP
    >>> contrib, base, names = grouped_contributions(booster, X, groups)  # doctest: +SKIP
    >>> np.allclose(contrib.sum(1) + base, booster.predict(X, raw_score=True))  # doctest: +SKIP
    True
    """
    stamp = (booster.num_trees(), booster.best_iteration)
    cached = _CACHE.get(booster)
    if cached is None or cached[0] != stamp:
        cached = (stamp, TreeEnsemble.from_booster(booster, n_jobs=n_jobs))
        _CACHE[booster] = cached
    return cached[1].contributions(X, groups=groups, n_jobs=n_jobs)


def blend_ensemble(blend) -> TreeEnsemble:
    """The LightGBM part of a blend as one :class:`TreeEnsemble`, parsed once per blend.

    Every booster's trees, leaf values scaled by ``(1 - weight) / n_boosters``, so that the
    ensemble's exact TreeSHAP values are the LightGBM part's share of the blend's log-odds.
    The parsed form is kept while the blend lives, never pickled with it.

    Parameters
    ----------
    blend : crm_predict.models.blend.BlendedLogit
        A fitted blend of LightGBM boosters and a logistic regression.

    Returns
    -------
    TreeEnsemble

    Examples
    --------
    >>> ensemble = blend_ensemble(pipeline[-1].model_)  # doctest: +SKIP
    >>> ensemble is blend_ensemble(pipeline[-1].model_)  # doctest: +SKIP
    True
    """
    cached = _BLENDS.get(blend)
    if cached is None:
        scale = (1 - blend.weight) / len(blend.boosters)
        cached = TreeEnsemble.from_boosters(
            [b.booster_ for b in blend.boosters], [scale] * len(blend.boosters)
        )
        _BLENDS[blend] = cached
    return cached
