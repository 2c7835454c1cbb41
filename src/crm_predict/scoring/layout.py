"""How the score file reads: the units and the rounding of its number columns.

The file is opened by people (CSV, Excel) and by pipelines (Parquet). Both see the same
columns in the same units; only the files people open are rounded:

* probabilities (``p_convert``, ``p_low``, ``p_high``, ``p_convert_<h>d``, ``p_ever``,
  ``p_churn`` …): fractions, 3 decimals in CSV and Excel (Excel shows them as percents);
* days (``median_days``, ``expected_days``): 1 decimal in CSV and Excel;
* a reason's strength: ``reason_<kind>_<k>_points``, in percentage points as the report and
  the reason text speak ("+4.2 pts"), 1 decimal in CSV and Excel. The models themselves
  (``ModelBundle.score_rows``, the MLflow pyfunc) keep ``…_contribution`` in probability
  units, so a served model's output does not change;
* a reason's value (``reason_<kind>_<k>_value``, text): in CSV and Excel a number field's
  whole numbers read as integers (``1190``, not ``1190.0``), other numbers with 2 decimals,
  or 3 significant digits below 1 (``0.129``); a text field's value is never touched, so a
  level such as ``2.10`` or ``007`` stays as the CRM wrote it.

Parquet keeps full precision: the report reads it, and its waterfalls add up exactly.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import numpy as np
import pandas as pd

_CONTRIBUTION = re.compile(r"^(reason_(?:for|against)_\d+)_contribution$")
_VALUE = re.compile(r"^(reason_(?:for|against)_\d+)_value$")
PROBABILITY_DIGITS, DAYS_DIGITS, POINTS_DIGITS = 3, 1, 1


def is_probability(column: str) -> bool:
    """Whether a score-file column holds a probability (a fraction between 0 and 1).

    Examples
    --------
    >>> [is_probability(c) for c in ("p_convert", "p_convert_30d", "percentile", "grade")]
    [True, True, False, False]
    """
    return column.startswith("p_")


def is_days(column: str) -> bool:
    """Whether a score-file column holds a number of days.

    Examples
    --------
    >>> is_days("expected_days"), is_days("p_convert_30d")
    (True, False)
    """
    return column.endswith("_days")


def is_points(column: str) -> bool:
    """Whether a score-file column holds a reason's strength in percentage points.

    Examples
    --------
    >>> is_points("reason_for_1_points"), is_points("reason_for_1")
    (True, False)
    """
    return column.startswith("reason_") and column.endswith("_points")


def in_points(scored: pd.DataFrame) -> pd.DataFrame:
    """Reason strengths in percentage points: ``…_contribution`` (0.042) → ``…_points`` (4.2).

    Parameters
    ----------
    scored : DataFrame
        Rows as :meth:`crm_predict.scoring.scorer.Scorer.score` returns them.

    Returns
    -------
    DataFrame
        ``scored`` with each contribution column renamed and scaled, in place of the old one.

    Examples
    --------
    >>> in_points(pd.DataFrame({"reason_for_1_contribution": [0.042]}))
       reason_for_1_points
    0                  4.2
    """
    renames = {}
    out = scored.copy()
    for col in scored.columns:
        match = _CONTRIBUTION.match(col)
        if match:
            renames[col] = f"{match.group(1)}_points"
            out[col] = 100.0 * scored[col].to_numpy(dtype=float)
    return out.rename(columns=renames)


def rounded(scored: pd.DataFrame, text_fields: Collection[str] = ()) -> pd.DataFrame:
    """Round the number columns for people: probabilities 3 decimals, days and points 1.

    A reason's value is a number written as text; when its field is not a text field it
    is written as :func:`number_text` does (``1190.0`` → ``1190``).

    Parameters
    ----------
    scored : DataFrame
        Score-file rows (after :func:`in_points`).
    text_fields : collection of str
        Fields the model reads as text (categorical): their values are left as they are.

    Returns
    -------
    DataFrame
        A copy with those columns rounded; other columns as they were.

    Examples
    --------
    >>> rounded(pd.DataFrame({"p_convert": [0.6093716], "expected_days": [41.26]}))
       p_convert  expected_days
    0      0.609           41.3
    >>> frame = pd.DataFrame({"reason_for_1_field": ["employees", "version"],
    ...                       "reason_for_1_value": ["1190.0", "2.10"]})
    >>> rounded(frame, text_fields=["version"])["reason_for_1_value"].tolist()
    ['1190', '2.10']
    """
    out = scored.copy()
    for col in scored.columns:
        value = _VALUE.match(col)
        if value:
            out[col] = _plain_values(scored, col, f"{value.group(1)}_field", text_fields)
            continue
        if not pd.api.types.is_float_dtype(scored[col]):
            continue
        digits = (
            PROBABILITY_DIGITS
            if is_probability(col)
            else DAYS_DIGITS
            if is_days(col)
            else POINTS_DIGITS
            if is_points(col)
            else None
        )
        if digits is not None:
            out[col] = _round(scored[col].to_numpy(dtype=float), digits)
    return out


def number_text(values: np.ndarray) -> np.ndarray:
    """Numbers as people read them: whole numbers as integers, others with 2 decimals, or
    3 significant digits below 1; trailing zeros dropped.

    Parameters
    ----------
    values : ndarray of float
        Finite numbers.

    Returns
    -------
    ndarray of str

    Examples
    --------
    >>> number_text(np.array([1190.0, 12.3456, 0.12916666, -0.0012345, 2.999, -0.0])).tolist()
    ['1190', '12.35', '0.129', '-0.00123', '3', '0']
    """
    values = np.asarray(values, dtype=float) + 0.0  # -0.0 → 0.0
    out = np.empty(len(values), dtype=object)
    size = np.abs(values)
    whole = values == np.round(values)
    with np.errstate(divide="ignore"):
        decimals = np.maximum(2, 2 - np.floor(np.log10(size, where=~whole, out=np.ones_like(size))))
    decimals[whole] = 0
    for d in np.unique(decimals).astype(int):
        at = decimals == d
        text = np.strings.mod(f"%.{d}f", values[at])
        if d:
            text = np.strings.rstrip(np.strings.rstrip(text, "0"), ".")
        out[at] = text
    return out


def _plain_values(
    scored: pd.DataFrame, column: str, field: str, text_fields: Collection[str]
) -> pd.Series:
    """A reason-value column with the numbers of number fields as :func:`number_text`.

    Each distinct value is read and written once (a column repeats a few thousand values).
    """
    values = scored[column]
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    numbers = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce")
    numbers = numbers.to_numpy(dtype=float)
    finite = np.isfinite(numbers)
    text = np.empty(len(uniques), dtype=object)
    text[finite] = number_text(numbers[finite])
    number = np.append(finite, False)[codes]  # code -1, a blank: last
    if field in scored.columns:
        number &= ~scored[field].isin(list(text_fields)).to_numpy()
    out = values.astype(object).to_numpy(copy=True)
    out[number] = text[codes[number]]
    return pd.Series(out, index=values.index, name=column)


_EXACT = 1e9
"""Largest ``|value| × 10**digits`` that NumPy's product rounds as the decimal does."""


def _round(values: np.ndarray, digits: int) -> np.ndarray:
    """Round as ``format`` does (correctly, half to even on the exact binary value), so a
    rounded column says what the reason text printed from the same number says.

    ``rint(v · 10**d) / 10**d`` is that number (the division is correctly rounded) unless
    the product's own rounding error carried it across a half: values within 1e-6 of a
    half, and huge ones, go through ``format``.
    """
    scale = 10.0**digits
    scaled = values * scale
    out = np.rint(scaled) / scale
    with np.errstate(invalid="ignore"):
        unsure = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6
        unsure |= np.abs(scaled) >= _EXACT
    unsure &= np.isfinite(values)
    out[unsure] = [float(f"{v:.{digits}f}") for v in values[unsure].tolist()]
    return out
