"""One answer per lead, whatever its age: the conversion model conditioned on time open.

The conversion model scores a lead as if it were new: it is trained on leads seen
``snapshot_days`` after creation. A lead that has stayed open for months is not that lead:
it has not converted so far, and the time-to-convert model knows how that changes its odds.
:func:`age_offsets` reads that change from the timing model, per lead, as log-odds
(``logit p_ever(at its age) − logit p_ever(as a new lead)``); :func:`with_age` adds it to
the conversion model's contributions as one more field, ``days_open``, so the score, the
grade, the rank and the reasons follow it and still add up. :func:`rescale_horizons`
then scales the timing columns so that ``p_convert_<h>d ≤ p_convert = p_ever``: one level
(the conversion model's, conditioned on age), one shape over time (the timing model's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from crm_predict.explain.contributions import Contributions

AGE_FIELD = "days_open"
_FLOOR = 0.001


def age_offsets(when: pd.DataFrame) -> np.ndarray:
    """Log-odds change of converting for a lead open at its age vs the same lead when new.

    Parameters
    ----------
    when : DataFrame
        :meth:`crm_predict.training.timing.TimingBundle.score_rows` output with ``fresh=True``.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> when = pd.DataFrame({"p_ever": [0.2, 0.5], "p_ever_new": [0.5, 0.5]})
    >>> age_offsets(when).round(3).tolist()
    [-1.386, 0.0]
    """
    aged = np.clip(when["p_ever"].to_numpy(dtype=float), _FLOOR, 1 - _FLOOR)
    new = np.clip(when["p_ever_new"].to_numpy(dtype=float), _FLOOR, 1 - _FLOOR)
    return logit(aged) - logit(new)


def shift(p: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Probabilities ``p`` moved by ``offset`` on the log-odds scale."""
    return expit(logit(np.clip(np.asarray(p, dtype=float), _FLOOR, 1 - _FLOOR)) + offset)


def with_age(contrib: Contributions, offset: np.ndarray) -> Contributions:
    """Contributions with the age's log-odds as one more field, :data:`AGE_FIELD`.

    The new probability is the old one shifted by ``offset``; each field's points are its
    share of the total log-odds, scaled so that base + points = probability still holds.

    Examples
    --------
    >>> c = Contributions(["a"], np.array([[1.0]]), np.zeros(1), np.array([[0.23]]),
    ...                   np.array([0.73]), np.array([0.5]))
    >>> aged = with_age(c, np.array([-1.0]))
    >>> aged.fields, round(float(aged.p[0]), 3), round(float(aged.points.sum()), 3)
    (['a', 'days_open'], 0.499, 0.0)
    """
    log_odds = np.column_stack([contrib.log_odds, offset])
    p = shift(contrib.p, offset)
    raw = log_odds.sum(axis=1)
    scale = np.divide(p - contrib.p_base, raw, out=np.zeros_like(raw), where=np.abs(raw) > 1e-12)
    return Contributions(
        [*contrib.fields, AGE_FIELD],
        log_odds,
        contrib.base_log_odds,
        log_odds * scale[:, None],
        p,
        contrib.p_base,
    )


def rescale_horizons(when: pd.DataFrame, p: np.ndarray) -> pd.DataFrame:
    """The timing columns with the level ``p``: each ``p_<event>_<h>d`` × p / p_ever, and
    ``p_ever`` = ``p``; ``median_days`` and ``expected_days`` (the shape) unchanged.

    Examples
    --------
    >>> when = pd.DataFrame({"p_convert_30d": [0.1], "p_ever": [0.2], "p_ever_new": [0.3],
    ...                      "age_days": [40.0]})
    >>> rescale_horizons(when, np.array([0.4])).round(2).to_dict("records")
    [{'p_convert_30d': 0.2, 'p_ever': 0.4}]
    """
    out = when.drop(columns=["p_ever_new", "age_days"])
    ever = np.clip(when["p_ever"].to_numpy(dtype=float), 1e-12, None)
    ratio = np.asarray(p, dtype=float) / ever
    for col in out.columns:
        if col.startswith("p_") and col != "p_ever":  # p_<event>_<h>d
            out[col] = np.minimum(out[col].to_numpy(dtype=float) * ratio, p)
    out["p_ever"] = np.asarray(p, dtype=float)
    return out
