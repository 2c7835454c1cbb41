"""Expected remaining lifetime from a time-to-churn model's survival curve.

:func:`expected_remaining_days` turns a time-to-churn model's fitted hazards into the mean
remaining lifetime: the area under the survival curve from today's tenure over
``timing.max_days``, plus the tail past it, where every period shares the last hazard ``h``
(a geometric tail of area ``S(W) · p · (1 − h/2) / h`` for periods of ``p`` days with linear
survival inside them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_MIN_HAZARD = 1e-6


def expected_remaining_days(timing, frame: pd.DataFrame, as_of) -> np.ndarray:
    """Expected days each customer stays, from their tenure at ``as_of`` (see module notes).

    Parameters
    ----------
    timing : TimingBundle
        A time-to-churn bundle (:func:`crm_predict.training.churn_timing.fit_churn_timing`).
    frame : DataFrame
        Model-frame rows, as the scorer builds them.
    as_of : Timestamp or str
        Today.

    Returns
    -------
    ndarray of float
        Mean remaining lifetime in days (the mean of the survival curve's area, tail
        included).

    Examples
    --------
    >>> expected_remaining_days(timing, frame, "2025-01-01")[:2]  # doctest: +SKIP
    array([412.3, 1375.9])
    """
    frame = frame.reset_index(drop=True)
    model = timing.model
    X = timing.pipeline[:-1].transform(frame)
    age = timing.ages(frame, as_of)
    p = float(model.period_days)
    W = float(model.max_days)
    grid = np.arange(0.0, W + p, p)
    gone = model.cumulative_incidence(X, grid, age=age)
    gone = gone + model.cumulative_incidence(X, grid, age=age, competing=True)
    alive = np.clip(1.0 - gone, 0.0, 1.0)
    area = np.trapezoid(alive, grid, axis=1)
    h_event, h_comp = model.hazards(X)
    h = np.clip(h_event[:, -1] + h_comp[:, -1], _MIN_HAZARD, 1.0)
    tail = alive[:, -1] * p * (1.0 - h / 2.0) / h
    return area + tail
