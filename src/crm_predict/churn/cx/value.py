"""Customer value: lifetime value (CLV), acquisition cost (CAC) and their ratio."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def clv(
    contribution: Any,
    expected_periods: Any,
    discount_rate: float = 0.0,
) -> Any:
    """Customer lifetime value: contribution per period × expected number of periods.

    .. math:: \\mathrm{CLV} = m \\cdot L \\quad (d = 0), \\qquad
       \\mathrm{CLV} = m \\sum_{t \\ge 0} \\frac{r^t}{(1 + d)^t} = m \\, \\frac{1 + d}{1 + d - r}

    with ``m`` the average contribution per period (revenue − cost to serve), ``L`` the
    expected number of periods (e.g. the expected remaining lifetime from a survival model)
    and, for the discounted form, a constant per-period retention ``r = 1 − 1/L`` (a
    geometric lifetime with mean ``L``, paid at the start of each period). Both forms agree
    when ``d = 0``.

    Parameters
    ----------
    contribution : float or array-like
        Average contribution per period.
    expected_periods : float or array-like
        Expected number of periods, at least 1.
    discount_rate : float
        Discount rate per period (0 = undiscounted).

    Returns
    -------
    float or ndarray
        Same shape as the broadcast inputs.

    Examples
    --------
    >>> clv(100.0, 10)
    1000.0
    >>> round(clv(100.0, 10, discount_rate=0.01), 2)  # 100 * 1.01 / (1.01 - 0.9)
    918.18
    """
    m = np.asarray(contribution, dtype=float)
    life = np.asarray(expected_periods, dtype=float)
    if np.any(life < 1):
        raise ValueError("expected_periods must be at least 1 (the current period)")
    if discount_rate < 0:
        raise ValueError(f"discount_rate must be >= 0, got {discount_rate}")
    if discount_rate == 0:
        out = m * life
    else:
        r = 1.0 - 1.0 / life
        out = m * (1.0 + discount_rate) / (1.0 + discount_rate - r)
    return float(out) if out.ndim == 0 else out


def cac(acquisition_spend: float, new_customers: int) -> float:
    """Customer acquisition cost: spend on acquiring customers ÷ customers acquired.

    .. math:: \\mathrm{CAC} = \\frac{\\text{acquisition spend}}{\\#\\text{new customers}}

    Returns
    -------
    float
        NaN when no customer was acquired.

    Examples
    --------
    >>> cac(12_000.0, 40)
    300.0
    """
    if acquisition_spend < 0 or new_customers < 0:
        raise ValueError("acquisition spend and new customers cannot be negative")
    return float(acquisition_spend / new_customers) if new_customers else float("nan")


def clv_to_cac(clv_value: float, cac_value: float) -> float:
    """CLV ÷ CAC: how many times a customer pays back what it cost to win (3+ is healthy).

    Returns
    -------
    float
        NaN when CAC is 0 or NaN (free customers have no meaningful ratio).

    Examples
    --------
    >>> clv_to_cac(900.0, 300.0)
    3.0
    """
    if pd.isna(cac_value) or cac_value == 0:
        return float("nan")
    if cac_value < 0:
        raise ValueError(f"CAC cannot be negative, got {cac_value}")
    return float(clv_value / cac_value)
