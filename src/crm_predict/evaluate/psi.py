"""Population stability index (PSI) and the binned counts it is computed from.

A field's training distribution is kept as a profile: quantile bins and their shares for
numbers (:func:`numeric_profile`), level shares for categories (:func:`categorical_profile`),
plus the missing share. :class:`Tally` counts new rows into the same bins, chunk by chunk,
and :meth:`Tally.compare` gives the field's PSI, new and vanished levels and the change of
its missing share. :mod:`crm_predict.lifecycle.monitor` builds on this.

PSI reads as: below 0.1 stable, 0.1 to 0.25 a moderate shift worth a look, above 0.25 a
major shift.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

PSI_MODERATE = 0.1
PSI_MAJOR = 0.25
MISSING_CHANGE = 0.05
N_BINS = 10
MAX_LEVELS = 50
MIN_VANISHED_SHARE = 0.01
EPS = 1e-4
SCORE = "(score)"
MISSING, OTHER, NEW = "(missing)", "(other)", "(new)"


def psi(expected: np.ndarray | list[float], actual: np.ndarray | list[float]) -> float:
    """Population stability index between two distributions over the same bins.

    ``sum((actual - expected) * ln(actual / expected))`` with shares floored at
    :data:`EPS`, so a bin empty on one side counts as a large but finite shift.

    Parameters
    ----------
    expected, actual : array-like of float
        Shares (or counts, normalised here) per bin, in the same bin order.

    Returns
    -------
    float

    Examples
    --------
    >>> round(psi([0.5, 0.5], [0.25, 0.75]), 4)
    0.2747
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.ndim != 1 or len(e) == 0:
        raise ValueError("expected and actual need the same non-empty list of bins")
    e = np.maximum(e / e.sum() if e.sum() else e, EPS)
    a = np.maximum(a / a.sum() if a.sum() else a, EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def as_levels(values: pd.Series) -> pd.Series:
    s = values.astype("object")
    return s.where(s.isna(), s.astype(str))


def numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def numeric_profile(x: np.ndarray, bins: int) -> dict:
    known = x[~np.isnan(x)]
    cuts = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1])) if len(known) else []
    counts = np.bincount(np.searchsorted(cuts, known, side="right"), minlength=len(cuts) + 1)
    n = max(len(x), 1)
    return {
        "kind": "numeric",
        "cuts": [float(c) for c in cuts],
        "shares": [round(float(c) / n, 6) for c in counts],
        "missing": round(float(np.isnan(x).mean()) if len(x) else 0.0, 6),
    }


def categorical_profile(values: pd.Series) -> dict:
    levels = as_levels(values)
    n = max(len(levels), 1)
    counts = levels.dropna().value_counts()
    top = counts.iloc[:MAX_LEVELS]
    return {
        "kind": "categorical",
        "levels": {str(k): round(float(v) / n, 6) for k, v in top.items()},
        "other": round(float(counts.iloc[MAX_LEVELS:].sum()) / n, 6),
        "missing": round(float(levels.isna().mean()) if len(levels) else 0.0, 6),
    }


@dataclass
class Tally:
    """Running counts of one field over the chunks of a lead list."""

    spec: dict
    n: int = 0
    missing: int = 0
    bins: np.ndarray | None = None
    levels: Counter = field(default_factory=Counter)

    def add(self, values: pd.Series | np.ndarray) -> None:
        if self.spec["kind"] == "categorical":
            levels = as_levels(pd.Series(values))
            self.missing += int(levels.isna().sum())
            self.levels.update(levels.dropna().tolist())
            self.n += len(levels)
            return
        x = numbers(pd.Series(values))
        known = x[~np.isnan(x)]
        cuts = np.asarray(self.spec["cuts"], dtype=float)
        counts = np.bincount(np.searchsorted(cuts, known, side="right"), minlength=len(cuts) + 1)
        self.bins = counts if self.bins is None else self.bins + counts
        self.missing += int(len(x) - len(known))
        self.n += len(x)

    def compare(self, name: str) -> dict:
        spec, n = self.spec, max(self.n, 1)
        row: dict[str, Any] = {
            "field": name,
            "kind": spec["kind"],
            "missing_reference": spec["missing"],
            "missing_now": self.missing / n,
            "new_levels": [],
            "vanished_levels": [],
        }
        if spec["kind"] == "numeric":
            bins = self.bins if self.bins is not None else np.zeros(len(spec["shares"]))
            row["psi"] = psi([*spec["shares"], spec["missing"]], [*bins / n, self.missing / n])
        else:
            ref = spec["levels"]
            truncated = spec["other"] > 0
            unknown = {k: v for k, v in self.levels.items() if k not in ref}
            expected = [*ref.values(), spec["other"], spec["missing"]]
            actual = [self.levels.get(k, 0) / n for k in ref]
            if truncated:
                actual += [sum(unknown.values()) / n, self.missing / n]
            else:
                expected.append(0.0)
                actual += [0.0, self.missing / n, sum(unknown.values()) / n]
                row["new_levels"] = sorted(unknown, key=lambda k: -unknown[k])
            row["psi"] = psi(expected, actual)
            row["vanished_levels"] = [
                k
                for k, share in ref.items()
                if share >= MIN_VANISHED_SHARE and k not in self.levels
            ]
            row["new_level_share"] = sum(unknown.values()) / n if not truncated else 0.0
        row["missing_change"] = row["missing_now"] - row["missing_reference"]
        return row


def status(value: float) -> str:
    if value >= PSI_MAJOR:
        return "major"
    if value >= PSI_MODERATE:
        return "moderate"
    return "stable"
