"""Lead grades: the A-D bands sales teams work from, and how each band performed.

A grade is a band of predicted conversion probability; cut-offs are the lowest probability
of grades A, B and C, and anything below the C cut-off is D.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from crm_predict.evaluate.inputs import check_outcomes, check_probabilities

DEFAULT_GRADE_CUTOFFS: dict[str, float] = {"A": 0.6, "B": 0.4, "C": 0.2}
"""Lowest probability for grades A, B and C; anything below the C cut-off is D."""

GRADES = ("A", "B", "C", "D")
"""Lead grades, best first."""


def assign_grades(p: ArrayLike, cutoffs: Mapping[str, float] | None = None) -> np.ndarray:
    """Turn probabilities into the A-D grades sales teams work from.

    Parameters
    ----------
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.
    cutoffs : mapping of str to float, optional
        Lowest probability for grades ``"A"``, ``"B"`` and ``"C"``, strictly decreasing;
        defaults to :data:`DEFAULT_GRADE_CUTOFFS`. A cut-off itself belongs to its grade.

    Returns
    -------
    numpy.ndarray of str
        ``"A"``, ``"B"``, ``"C"`` or ``"D"`` per lead.

    Raises
    ------
    ValueError
        If the cut-offs are not exactly A, B and C, strictly decreasing within [0, 1].

    Examples
    --------
    >>> assign_grades([0.75, 0.6, 0.45, 0.2, 0.05]).tolist()
    ['A', 'A', 'B', 'C', 'D']
    """
    a, b, c = _check_cutoffs(cutoffs)
    prob = check_probabilities(p)
    return np.select([prob >= a, prob >= b, prob >= c], list(GRADES[:3]), default=GRADES[3])


def grade_table(
    y_true: ArrayLike, p: ArrayLike, cutoffs: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Size, predicted and observed conversion rate of each lead grade.

    Parameters
    ----------
    y_true : array-like of 0/1
        Whether each lead converted.
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.
    cutoffs : mapping of str to float, optional
        Grade cut-offs as in :func:`assign_grades`.

    Returns
    -------
    pandas.DataFrame
        Columns ``grade, n, share, predicted_rate, observed_rate``; always four rows, A to
        D. A grade nobody falls in has ``n`` 0 and NaN rates.

    Examples
    --------
    >>> grade_table([1, 0, 0, 0], [0.7, 0.5, 0.1, 0.05])[["grade", "n", "observed_rate"]]
      grade  n  observed_rate
    0     A  1            1.0
    1     B  1            0.0
    2     C  0            NaN
    3     D  2            0.0
    """
    y, prob = check_outcomes(y_true, p)
    grades = assign_grades(prob, cutoffs)
    rows = []
    for grade in GRADES:
        mask = grades == grade
        n = int(mask.sum())
        rows.append(
            {
                "grade": grade,
                "n": n,
                "share": n / len(prob),
                "predicted_rate": float(prob[mask].mean()) if n else np.nan,
                "observed_rate": float(y[mask].mean()) if n else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _check_cutoffs(cutoffs: Mapping[str, float] | None) -> tuple[float, float, float]:
    cut = DEFAULT_GRADE_CUTOFFS if cutoffs is None else cutoffs
    if set(cut) != set(GRADES[:3]):
        raise ValueError(f"grade cut-offs need exactly the keys 'A', 'B', 'C'; got {sorted(cut)}")
    a, b, c = (float(cut[grade]) for grade in GRADES[:3])
    if not 1 >= a > b > c >= 0:
        raise ValueError(
            "grade cut-offs must be strictly decreasing from A to C and lie in [0, 1]; "
            f"got A={a}, B={b}, C={c}"
        )
    return a, b, c
