"""Plain-language reasons: per-field contributions turned into sentences with base rates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_predict.explain._words import (
    _agrees,
    _fmt,
    _missing,
    _one_decimal,
    _shown,
    label_of,
    percent,
    strength,
    value_text,
)
from crm_predict.explain.age import AGE_FIELD

N_FOR, N_AGAINST = 3, 2
MIN_POINTS = 1.0
"""Default strength, in percentage points, below which a field gives no reason."""
_NUMERIC_BINS = 5


@dataclass
class FieldRates:
    """Observed conversion rates per level (categorical) or per value range (numeric).

    Attributes
    ----------
    overall : float
        Conversion rate of all labelled training records.
    levels : dict
        ``{field: {level: (rate, n)}}`` for categorical fields.
    bins : dict
        ``{field: (edges, rates, counts)}`` for numeric fields; ``edges`` has one more
        entry than ``rates``.
    """

    overall: float
    levels: dict[str, dict[str, tuple[float, int]]] = field(default_factory=dict)
    bins: dict[str, tuple[list[float], list[float], list[int]]] = field(default_factory=dict)

    @classmethod
    def learn(
        cls,
        frame: pd.DataFrame,
        y: np.ndarray,
        categorical: list[str],
        numeric: list[str],
        min_count: int = 20,
    ) -> FieldRates:
        """Learn rates from labelled training rows.

        Parameters
        ----------
        frame : DataFrame
            Cleaned training rows.
        y : array of 0/1
            Outcomes.
        categorical, numeric : list of str
            Fields by type.
        min_count : int
            Levels with fewer rows are not quoted.

        Returns
        -------
        FieldRates
        """
        y = np.asarray(y, dtype=float)
        out = cls(overall=float(y.mean()))
        for col in categorical:
            if col not in frame.columns:
                continue
            text = frame[col].astype("object").where(frame[col].notna(), "(missing)")
            grouped = pd.Series(y, index=frame.index).groupby(text.astype(str))
            stats = grouped.agg(["mean", "size"])
            out.levels[col] = {
                str(k): (float(r["mean"]), int(r["size"]))
                for k, r in stats.iterrows()
                if r["size"] >= min_count
            }
        for col in numeric:
            if col not in frame.columns:
                continue
            values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
            known = ~np.isnan(values)
            if known.sum() < min_count:
                continue
            edges = np.unique(np.quantile(values[known], np.linspace(0, 1, _NUMERIC_BINS + 1)))
            if len(edges) < 2:
                continue
            idx = np.clip(
                np.searchsorted(edges, values[known], side="right") - 1, 0, len(edges) - 2
            )
            rates, counts = [], []
            for b in range(len(edges) - 1):
                hit = idx == b
                counts.append(int(hit.sum()))
                rates.append(float(y[known][hit].mean()) if hit.any() else float("nan"))
            out.bins[col] = ([float(e) for e in edges], rates, counts)
        return out

    def describe(self, name: str, value, points: float | None = None) -> str:
        """One sentence: the field's value, its push in points and how such records convert.

        The rate is quoted only when it lies on the side of the average the push points
        to (both as shown), so a sentence never contradicts itself.

        Parameters
        ----------
        name : str
            Field name (or :data:`crm_predict.explain.age.AGE_FIELD`).
        value : object
            The record's value (``{part: share}`` for a family such as ``touch_share``).
        points : float, optional
            The field's contribution in probability units (0.042 = +4.2 points); without
            it the sentence has no strength and the rate is quoted whatever its side.

        Examples
        --------
        >>> rates = FieldRates(0.2, levels={"source": {"referral": (0.41, 300)}})
        >>> rates.describe("source", "referral", 0.042)
        'Source = referral: +4.2 pts (such leads convert at 41% vs 20% overall)'
        >>> rates.describe("source", "referral", -0.03)
        'Source = referral: −3.0 pts'
        >>> rates.describe("days_open", 212.0, -0.061)
        'Open for 212 days: −6.1 pts'
        """
        what = self.what(name, value)
        rate = self.rate_of(name, value)
        if points is None:
            return what if rate is None else f"{what}: {rate[1]}"
        text = f"{what}: {strength(points)}"
        if rate is not None and _agrees(_shown(rate[0]), _shown(self.overall), points):
            text += f" ({rate[1]})"
        return text

    def what(self, name: str, value) -> str:
        """The field and its value as a manager reads them.

        Examples
        --------
        >>> FieldRates(0.2).what("created_at", pd.Timestamp("2024-12-25 08:57"))
        'Created at = 25 Dec 2024'
        """
        label = label_of(name)
        if name == AGE_FIELD and not _missing(value):
            days = float(value)
            return f"Open for {_fmt(days)} day{'' if days == 1 else 's'}"
        if name in self.levels:
            if _missing(value):
                return f"{label} is not recorded"
            shown = value_text(value)
            return f"{label} = {shown}" + ("" if str(value) in self.levels[name] else " (rare)")
        if isinstance(value, dict):
            shares = {k: v for k, v in value.items() if not _missing(v)}
            if not shares:
                return f"{label}: none recorded"
            top = max(shares, key=shares.get)
            return f"{label}: mostly {label_of(top).lower()} ({float(shares[top]):.0%})"
        return f"{label} is not recorded" if _missing(value) else f"{label} = {value_text(value)}"

    def rate_of(self, name: str, value) -> tuple[float, str] | None:
        """How records like this one convert, and the words for it; None when unknown.

        Examples
        --------
        >>> FieldRates(0.2, levels={"source": {"web": (0.1, 500)}}).rate_of("source", "web")
        (0.1, 'such leads convert at 10% vs 20% overall')
        """
        if name in self.levels:
            hit = self.levels[name].get("(missing)" if _missing(value) else str(value))
            if hit is None:
                return None
            return hit[
                0
            ], f"such leads convert at {percent(hit[0])} vs {percent(self.overall)} overall"
        if name in self.bins and not _missing(value):
            return self.bin_rate(name, int(self.bin_of(name, np.array([float(value)]))[0]))
        return None

    def bin_of(self, name: str, values: np.ndarray) -> np.ndarray:
        """The value range (bin) of a numeric field each value falls in.

        Examples
        --------
        >>> FieldRates(0.2, bins={"visits": ([0, 2, 9], [0.1, 0.3], [50, 50])}).bin_of(
        ...     "visits", np.array([1.0, 5.0, 40.0])
        ... ).tolist()
        [0, 1, 1]
        """
        edges, rates, _ = self.bins[name]
        return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(rates) - 1)

    def bin_rate(self, name: str, b: int) -> tuple[float, str] | None:
        """How leads in bin ``b`` of a numeric field convert, and the words; None if unknown.

        Examples
        --------
        >>> FieldRates(0.2, bins={"visits": ([0, 2, 9], [0.1, 0.3], [50, 50])}).bin_rate(
        ...     "visits", 1
        ... )
        (0.3, 'leads with 2–9 convert at 30% vs 20% overall')
        """
        edges, rates, _ = self.bins[name]
        if np.isnan(rates[b]):
            return None
        lo, hi = _fmt(edges[b]), _fmt(edges[b + 1])
        span = lo if lo == hi else f"{lo}–{hi}"
        return rates[
            b
        ], f"leads with {span} convert at {percent(rates[b])} vs {percent(self.overall)} overall"


def field_value(columns: dict, row: int, name: str) -> object:
    """A field's raw value, or ``{part: value}`` for a family such as ``touch_share__*``.

    Parameters
    ----------
    columns : dict
        Column name to its ``Series.array``: indexing that gives the same scalar as
        ``Series.iloc`` without a DataFrame lookup per cell (100k-lead lists).
    row : int
        Position of the record.
    name : str
        A field, or the stem of a family of columns.

    Returns
    -------
    object
        The value; a dict for a family; None for a field with no column.

    Examples
    --------
    >>> cols = {"touch_share__email": pd.array([0.7]), "touch_share__call": pd.array([0.3])}
    >>> {part: float(v) for part, v in field_value(cols, 0, "touch_share").items()}
    {'email': 0.7, 'call': 0.3}
    """
    if name in columns:
        return columns[name][row]
    prefix = f"{name}__"
    parts = {c[len(prefix) :]: a[row] for c, a in columns.items() if c.startswith(prefix)}
    return parts or None


def _slot_text(
    col: np.ndarray,
    contrib: np.ndarray,
    ok: np.ndarray,
    fields: list[str],
    values: pd.DataFrame,
    rates: FieldRates,
) -> tuple[np.ndarray, np.ndarray]:
    """One reason slot of every record: the sentence and the value, '' where ``~ok``.

    The words depend on the field and its value only, so they are written once per
    distinct value of each field and spread to the records with array indexing; the
    strength is formatted by NumPy (``%.1f``, the same rounding as :func:`strength`). A
    family of columns (``touch_share__*``) has a dict per record and goes through
    :meth:`FieldRates.describe` record by record.
    """
    n = len(col)
    text = np.full(n, "", dtype=object)
    shown = np.full(n, "", dtype=object)
    if not ok.any():
        return text, shown
    sign = np.where(contrib >= 0, "+", "−").astype(object)
    strengths = sign + _one_decimal(np.abs(contrib) * 100) + " pts"
    average = _shown(rates.overall)
    columns = None
    for j in np.unique(col[ok]).tolist():
        name = fields[j]
        rows = np.flatnonzero(ok & (col == j))
        if name not in values.columns:
            columns = columns or {c: values[c].array for c in values.columns}
            for i in rows.tolist():
                v = field_value(columns, i, name)
                text[i] = rates.describe(name, v, contrib[i])
                shown[i] = "" if _missing(v) or isinstance(v, dict) else str(v)
            continue
        codes, uniques = pd.factorize(values[name].array[rows], use_na_sentinel=False)
        what, quote, said, level = [], [], [], []
        for v, rate in zip(uniques, _rates(rates, name, uniques), strict=True):
            what.append(rates.what(name, v) + ": ")
            quote.append("" if rate is None else f" ({rate[1]})")
            level.append(np.nan if rate is None else _shown(rate[0]))
            said.append("" if _missing(v) else str(v))
        level_of = np.asarray(level)[codes]
        agrees = _agrees(level_of, average, contrib[rows])
        quoted = np.where(agrees, np.asarray(quote, dtype=object)[codes], "")
        text[rows] = np.asarray(what, dtype=object)[codes] + strengths[rows] + quoted
        shown[rows] = np.asarray(said, dtype=object)[codes]
    return text, shown


def _rates(rates: FieldRates, name: str, uniques) -> list[tuple[float, str] | None]:
    """:meth:`FieldRates.rate_of` of each of a field's distinct values; a numeric field's
    values are binned at once and each bin worded once."""
    if name in rates.levels or name not in rates.bins:
        return [rates.rate_of(name, v) for v in uniques]
    known = np.array([not _missing(v) for v in uniques], dtype=bool)
    numbers = np.array([float(v) if k else 0.0 for v, k in zip(uniques, known, strict=True)])
    bins = rates.bin_of(name, numbers)
    worded = {b: rates.bin_rate(name, b) for b in np.unique(bins[known]).tolist()}
    return [worded[b] if k else None for b, k in zip(bins.tolist(), known, strict=True)]


def top_reasons(
    contributions: np.ndarray,
    fields: list[str],
    values: pd.DataFrame,
    rates: FieldRates,
    n_for: int = N_FOR,
    n_against: int = N_AGAINST,
    min_points: float = MIN_POINTS,
) -> pd.DataFrame:
    """The strongest fields for and against each record, as text and structured columns.

    A field gives a reason only when it moves the score by at least ``min_points``
    percentage points, so every reason is one of the record's largest pushes and says
    how large, signed ("+4.2 pts").

    Parameters
    ----------
    contributions : ndarray, shape (n_rows, n_fields)
        Per-field contributions in probability units (0.05 = 5 percentage points).
    fields : list of str
        Field name per column of ``contributions``.
    values : DataFrame
        The records' raw values (read for the text when a field is a column).
    rates : FieldRates
        Base rates for the sentences.
    n_for, n_against : int
        How many reasons of each kind, at most.
    min_points : float
        Weakest push quoted, in percentage points.

    Returns
    -------
    DataFrame
        ``reason_for_1..n`` and ``reason_against_1..n`` (text), and for each
        ``…_field``, ``…_value`` and ``…_contribution``; empty where no field pushes that
        way by ``min_points`` or more.

    Examples
    --------
    >>> rates = FieldRates(0.2, levels={"source": {"referral": (0.41, 300)}})
    >>> values = pd.DataFrame({"source": ["referral"], "region": ["EMEA"]})
    >>> out = top_reasons(np.array([[0.042, -0.004]]), ["source", "region"], values, rates)
    >>> out["reason_for_1"].iat[0], out["reason_against_1"].iat[0]
    ('Source = referral: +4.2 pts (such leads convert at 41% vs 20% overall)', '')
    """
    floor = min_points / 100
    n = contributions.shape[0]
    order = np.argsort(-contributions, axis=1, kind="stable")
    names = np.asarray(fields, dtype=object)
    out: dict[str, np.ndarray] = {}
    n_fields = contributions.shape[1]
    for kind, count in (("for", n_for), ("against", n_against)):
        for k in range(count):
            # A task with fewer fields than reason slots leaves the extra slots empty.
            slot = min(k, n_fields - 1)
            col = order[:, slot] if kind == "for" else order[:, -(slot + 1)]
            contrib = contributions[np.arange(n), col]
            ok = (contrib >= floor if kind == "for" else contrib <= -floor) & (k < n_fields)
            ok &= contrib != 0
            text, shown = _slot_text(col, contrib, ok, fields, values, rates)
            out[f"reason_{kind}_{k + 1}"] = text
            out[f"reason_{kind}_{k + 1}_field"] = np.where(ok, names[col], "").astype(object)
            out[f"reason_{kind}_{k + 1}_value"] = shown
            out[f"reason_{kind}_{k + 1}_contribution"] = np.where(ok, contrib, 0.0)
    return pd.DataFrame(out, index=values.index)
