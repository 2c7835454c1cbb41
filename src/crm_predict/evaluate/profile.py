"""The training snapshot a model keeps for drift checks: per field its bins or level shares.

:func:`reference_profile` profiles the training rows (``ModelBundle.reference``);
:mod:`crm_predict.lifecycle.monitor` later counts a new lead list into the same bins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crm_predict.config import TaskConfig
from crm_predict.evaluate.psi import N_BINS, categorical_profile, numbers, numeric_profile
from crm_predict.features.assemble import input_fields


def monitored_fields(config: TaskConfig, extra: Sequence[str] | None = None) -> dict:
    """``{field: "categorical" | "numeric"}``: the CRM fields a model reads (dates left out:
    they move by definition) plus ``extra``, its derived numeric inputs (activity
    aggregates, churn features: see :func:`crm_predict.features.task_frame`)."""
    f = config.features
    cats = set(f.model_fields_for("categorical"))
    dates = {*f.model_fields_for("date"), config.time.created}
    out = {c: ("categorical" if c in cats else "numeric") for c in input_fields(config)}
    out = {c: kind for c, kind in out.items() if c not in dates}
    return out | {c: "numeric" for c in extra or ()}


def reference_profile(
    frame: pd.DataFrame,
    config: TaskConfig,
    scores: np.ndarray,
    extra: Sequence[str] | None = None,
    bins: int = N_BINS,
) -> dict:
    """Profile training rows for later drift checks (stored as ``ModelBundle.reference``).

    Parameters
    ----------
    frame : DataFrame
        Model-frame rows the model was trained on.
    config : TaskConfig
        The task (which fields are categorical).
    scores : array of float
        The model's probability for each of those rows.
    extra : sequence of str, optional
        Derived numeric inputs to profile too (activity aggregates, churn features).
    bins : int
        Quantile bins for numbers and the score.

    Returns
    -------
    dict
        JSON-ready: ``n_rows``, ``fields`` (per field: ``kind``, ``cuts`` and ``shares``
        or ``levels`` and ``other``, ``missing``) and ``score``.

    Examples
    --------
    >>> cfg = TaskConfig.model_validate({"name": "t", "source": {"path": "x.csv"},
    ...     "id_column": "id", "target": {"column": "s", "positive": ["w"], "negative": ["l"]},
    ...     "features": {"categorical": ["source"], "numeric": ["visits"]}})
    >>> frame = pd.DataFrame({"source": ["web", "event"] * 50, "visits": range(100)})
    >>> ref = reference_profile(frame, cfg, np.linspace(0, 1, 100))
    >>> sorted(ref["fields"]["source"]["levels"].items())
    [('event', 0.5), ('web', 0.5)]
    """
    fields: dict[str, dict] = {}
    for name, kind in monitored_fields(config, extra).items():
        if name not in frame.columns:
            continue
        if kind == "categorical":
            fields[name] = categorical_profile(frame[name])
        else:
            fields[name] = numeric_profile(numbers(frame[name]), bins)
    score = numeric_profile(np.asarray(scores, dtype=float), bins)
    return {"n_rows": len(frame), "fields": fields, "score": score}
