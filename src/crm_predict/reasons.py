"""Plain-language reasons: per-field contributions turned into sentences with base rates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

N_FOR, N_AGAINST = 3, 2
_LABELS = {"touch_share": "touch mix", "touch_direction": "touch direction"}
_NUMERIC_BINS = 5


def label_of(name: str) -> str:
    """A CRM field name as a manager reads it.

    Examples
    --------
    >>> label_of("pricing_page_visits")
    'Pricing page visits'
    """
    text = _LABELS.get(name, name).replace("__", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


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

    def describe(self, name: str, value) -> str:
        """One sentence: the field's value and how such records convert.

        Examples
        --------
        >>> rates = FieldRates(0.2, levels={"source": {"referral": (0.41, 300)}})
        >>> rates.describe("source", "referral")
        'Source = referral: such leads convert at 41% vs 20% overall'
        """
        label = label_of(name)
        overall = f"{self.overall:.0%} overall"
        if name in self.levels:
            shown = "(missing)" if _missing(value) else str(value)
            hit = self.levels[name].get(shown)
            if hit is None:
                if _missing(value):
                    return f"{label} is not recorded"
                return f"{label} = {shown}: a rare or new value"
            return f"{label} = {shown}: such leads convert at {hit[0]:.0%} vs {overall}"
        if name in self.bins and not _missing(value):
            edges, rates, _ = self.bins[name]
            v = float(value)
            b = int(np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(rates) - 1))
            lo, hi = _fmt(edges[b]), _fmt(edges[b + 1])
            if np.isnan(rates[b]):
                return f"{label} = {_fmt(v)}"
            span = lo if lo == hi else f"{lo}–{hi}"
            return f"{label} = {_fmt(v)}: leads with {span} convert at {rates[b]:.0%} vs {overall}"
        if name in self.bins:
            return f"{label} is not recorded"
        if isinstance(value, dict):
            shares = {k: v for k, v in value.items() if not _missing(v)}
            if not shares:
                return f"{label}: none recorded"
            top = max(shares, key=shares.get)
            return f"{label}: mostly {label_of(top).lower()} ({float(shares[top]):.0%})"
        return label if _missing(value) else f"{label} = {value}"


def _value(columns: dict, row: int, name: str):
    """A field's raw value, or ``{part: value}`` for a family such as ``touch_share__*``.

    ``columns`` maps column name to its ``Series.array``: indexing that gives the same
    scalar as ``Series.iloc`` without a DataFrame lookup per cell (100k-lead lists).
    """
    if name in columns:
        return columns[name][row]
    prefix = f"{name}__"
    parts = {c[len(prefix) :]: a[row] for c, a in columns.items() if c.startswith(prefix)}
    return parts or None


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.2g}"


def top_reasons(
    contributions: np.ndarray,
    fields: list[str],
    values: pd.DataFrame,
    rates: FieldRates,
    n_for: int = N_FOR,
    n_against: int = N_AGAINST,
) -> pd.DataFrame:
    """The strongest fields for and against each record, as text and structured columns.

    Parameters
    ----------
    contributions : ndarray, shape (n_rows, n_fields)
        Per-field contributions (percentage points of probability or log-odds; only the
        sign and order matter here).
    fields : list of str
        Field name per column of ``contributions``.
    values : DataFrame
        The records' raw values (read for the text when a field is a column).
    rates : FieldRates
        Base rates for the sentences.
    n_for, n_against : int
        How many reasons of each kind.

    Returns
    -------
    DataFrame
        ``reason_for_1..n`` and ``reason_against_1..n`` (text), and for each
        ``…_field``, ``…_value`` and ``…_contribution``; empty where no field pushes that way.
    """
    n = contributions.shape[0]
    order = np.argsort(-contributions, axis=1, kind="stable")
    columns = {c: values[c].array for c in values.columns}
    out: dict[str, list] = {}
    n_fields = contributions.shape[1]
    for kind, count in (("for", n_for), ("against", n_against)):
        for k in range(count):
            # A task with fewer fields than reason slots leaves the extra slots empty.
            slot = min(k, n_fields - 1)
            col = order[:, slot] if kind == "for" else order[:, -(slot + 1)]
            contrib = contributions[np.arange(n), col]
            ok = (contrib > 0 if kind == "for" else contrib < 0) & (k < n_fields)
            names = [fields[c] for c in col]
            vals = [_value(columns, i, f) for i, f in enumerate(names)]
            out[f"reason_{kind}_{k + 1}"] = [
                rates.describe(f, v) if good else ""
                for f, v, good in zip(names, vals, ok, strict=True)
            ]
            out[f"reason_{kind}_{k + 1}_field"] = [
                f if g else "" for f, g in zip(names, ok, strict=True)
            ]
            out[f"reason_{kind}_{k + 1}_value"] = [
                "" if not g or _missing(v) or isinstance(v, dict) else str(v)
                for v, g in zip(vals, ok, strict=True)
            ]
            out[f"reason_{kind}_{k + 1}_contribution"] = np.where(ok, contrib, 0.0)
    return pd.DataFrame(out, index=values.index)
