"""The words of reasons: field labels, strengths, values and rates as people read them."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

_LABELS = {"touch_share": "touch mix", "touch_direction": "touch direction"}
_LONGEST = 40  # characters of a text value quoted


@functools.cache
def label_of(name: str) -> str:
    """A CRM field name as a manager reads it.

    Examples
    --------
    >>> label_of("pricing_page_visits")
    'Pricing page visits'
    """
    text = _LABELS.get(name, name).replace("__", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def strength(points: float) -> str:
    """A contribution as signed percentage points, as reasons and waterfalls show it.

    Examples
    --------
    >>> strength(0.0421), strength(-0.061)
    ('+4.2 pts', '−6.1 pts')
    """
    return f"{'+' if points >= 0 else '−'}{abs(points) * 100:.1f} pts"


def value_text(value) -> str:
    """A CRM value as the report shows it: yes/no, dates as "25 Dec 2024", short numbers.

    Examples
    --------
    >>> value_text(True), value_text("False"), value_text(1.5), value_text(1200.0)
    ('yes', 'no', '1.5', '1,200')
    """
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp | np.datetime64):
        stamp = pd.Timestamp(value)
        return f"{stamp.day} {stamp:%b %Y}"
    if isinstance(value, int | float | np.number):
        return _fmt(float(value))
    text = str(value)
    text = {"True": "yes", "False": "no"}.get(text, text)
    return text if len(text) <= _LONGEST else text[: _LONGEST - 1] + "…"


def percent(value: float) -> str:
    """A rate as the report shows it: whole percent, one decimal below 10%.

    Examples
    --------
    >>> percent(0.234), percent(0.042)
    ('23%', '4.2%')
    """
    return f"{value:.1%}" if 0 < abs(value) < 0.1 else f"{value:.0%}"


def _shown(rate: float) -> float:
    """A rate as the sentence shows it, in percent (41.0 for "41%")."""
    return float(percent(rate)[:-1])


def _agrees(shown, average: float, points):
    """Whether rates as shown lie on the push's side of the average as shown (arrays too)."""
    return np.where(points > 0, shown > average, shown < average)


def _one_decimal(values: np.ndarray) -> np.ndarray:
    """``"%.1f" % v`` of every value (``v >= 0``), formatted once per distinct tenth.

    ``rint(10 v)`` is the tenth ``format`` rounds to unless the product's rounding carried
    it across a half: those values (and NaN, huge ones) are formatted one by one.
    """
    scaled = values * 10.0
    tenths = np.rint(scaled)
    with np.errstate(invalid="ignore"):
        sure = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) >= 1e-6
        sure &= np.abs(scaled) < 1e9
    codes, uniques = pd.factorize(np.where(sure, tenths, 0.0))
    out = np.array([f"{u / 10:.1f}" for u in uniques.tolist()], dtype=object)[codes]
    out[~sure] = [f"{v:.1f}" for v in values[~sure].tolist()]
    return out


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.2g}"
