"""Touch aggregates (calls, e-mails, meetings …) per lead, as of a date."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class ActivityAggregator(TransformerMixin, BaseEstimator):
    """Summarise an activity table into one row per lead, seeing only touches before ``as_of``.

    ``X`` is the activity table (one row per touch). The output has one row per lead id
    with: touches in total and in the last 7/30/90 days, days since the first and the last
    touch, and the mix of touches by type and by direction. A touch dated on or after the
    lead's ``as_of`` is ignored, so features never see the future.

    Parameters
    ----------
    id_column, time_column : str
        Lead id and timestamp columns of the activity table.
    type_column, direction_column : str, optional
        Touch type (call, email, …) and direction (in / out) columns.
    windows : tuple of int
        Look-back windows in days.
    as_of : Timestamp, str or Series
        One date for every lead, or a Series mapping lead id to that lead's own date
        (e.g. its close date when building training rows). Required before ``transform``.

    Attributes
    ----------
    types_, directions_ : list of str
        Levels seen in training; the mix columns are fixed to these.

    Examples
    --------
    >>> import pandas as pd
    >>> acts = pd.DataFrame({"lead_id": ["a", "a"], "timestamp": pd.to_datetime(
    ...     ["2024-01-01", "2024-03-01"])})
    >>> agg = ActivityAggregator(as_of="2024-02-01").fit(acts)
    >>> int(agg.transform(acts).loc["a", "touches_total"])
    1
    """

    def __init__(
        self,
        id_column: str = "lead_id",
        time_column: str = "timestamp",
        type_column: str | None = None,
        direction_column: str | None = None,
        windows: tuple[int, ...] = (7, 30, 90),
        as_of=None,
    ) -> None:
        self.id_column = id_column
        self.time_column = time_column
        self.type_column = type_column
        self.direction_column = direction_column
        self.windows = windows
        self.as_of = as_of

    def fit(self, X: pd.DataFrame, y=None) -> ActivityAggregator:
        """Learn the touch types and directions."""
        self.types_ = _levels(X, self.type_column)
        self.directions_ = _levels(X, self.direction_column)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Aggregate the touches before each lead's ``as_of``; one row per lead id."""
        check_is_fitted(self, "types_")
        if self.as_of is None:
            raise ValueError("ActivityAggregator needs as_of: the date the features are seen from")
        ids = X[self.id_column].astype(str)
        if isinstance(self.as_of, pd.Series):
            cut = ids.map(self.as_of)
        else:
            cut = pd.Series(pd.Timestamp(self.as_of), index=X.index)
        ts = pd.to_datetime(X[self.time_column])
        keep = (ts < cut).to_numpy()
        age = ((cut - ts) / pd.Timedelta(days=1))[keep]
        frame = pd.DataFrame({"id": ids[keep], "age": age})
        grouped = frame.groupby("id", sort=True)["age"]
        out = pd.DataFrame({"touches_total": grouped.size().astype(float)})
        for w in self.windows:
            out[f"touches_{w}d"] = (frame["age"] <= w).groupby(frame["id"]).sum().astype(float)
        out["days_since_first_touch"] = grouped.max()
        out["days_since_last_touch"] = grouped.min()
        for col, levels, prefix in (
            (self.type_column, self.types_, "touch_share"),
            (self.direction_column, self.directions_, "touch_direction"),
        ):
            if col is None:
                continue
            kind = X.loc[keep, col].astype(str)
            counts = pd.crosstab(frame["id"], kind).reindex(columns=levels, fill_value=0)
            share = counts.div(out["touches_total"], axis=0)
            for level in levels:
                out[f"{prefix}__{level}"] = share[level]
        out.index.name = self.id_column
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the aggregate columns."""
        check_is_fitted(self, "types_")
        names = ["touches_total", *(f"touches_{w}d" for w in self.windows)]
        names += ["days_since_first_touch", "days_since_last_touch"]
        if self.type_column:
            names += [f"touch_share__{t}" for t in self.types_]
        if self.direction_column:
            names += [f"touch_direction__{d}" for d in self.directions_]
        return np.asarray(names, dtype=object)

    def empty_row(self) -> dict[str, float]:
        """Feature values of a lead without any touch before its ``as_of``."""
        return {
            name: (np.nan if name.startswith(("days_", "touch_")) else 0.0)
            for name in self.get_feature_names_out()
        }


def _levels(X: pd.DataFrame, column: str | None) -> list[str]:
    if column is None:
        return []
    return sorted(X[column].dropna().astype(str).unique())
