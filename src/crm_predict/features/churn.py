"""Churn features per customer, as of a date: tenure, tickets, surveys, usage, plan changes.

The event tables use canonical column names (the loader renames a CRM's own names to them,
see :data:`crm_predict.data.churn.TABLE_COLUMNS`); only events dated strictly before a customer's
``as_of`` are seen, so a ticket, answer or usage record from the future changes nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from crm_predict.data.churn import TABLE_COLUMNS, churn_snapshot
from crm_predict.features._base import check_frame
from crm_predict.features.cleaning import AS_OF

SURVEYS = ("nps", "csat", "ces")


class ChurnFeatures(TransformerMixin, BaseEstimator):
    """One row of churn features per customer row, from the event tables before ``as_of``.

    ``X`` is the customer table (one row per customer) with ``id_column``, ``signup_column``
    and, when ``as_of`` is None, an ``as_of`` column giving each customer's own date. The
    output keeps ``X``'s rows and order:

    * ``tenure_days``;
    * ``tickets_<w>d`` for each window, ``tickets_total``, ``days_since_last_ticket``,
      ``tickets_unresolved`` (opened, not closed by ``as_of``), ``tickets_escalated_90d``;
    * ``<survey>_latest`` and ``<survey>_trend`` (latest minus the previous answer) for
      NPS, CSAT and CES, ``<survey>_answers``;
    * ``usage_last_3`` (mean of the last three usage records) and ``usage_trend``
      (``log1p`` of that mean minus ``log1p`` of the three before);
    * ``revenue_change_90d`` (new minus old recurring revenue over plan changes in the
      last 90 days), ``downgrades_90d``, ``plan_changes_total``.

    Parameters
    ----------
    tickets, surveys, usage, changes : DataFrame, optional
        Event tables with the columns of :data:`TABLE_COLUMNS`; a missing table gives
        no columns of its kind.
    id_column, signup_column : str
        Customer id and signup date columns of ``X``.
    windows : tuple of int
        Ticket look-back windows in days.
    as_of : Timestamp or str, optional
        One date for every customer; None reads ``X``'s ``as_of`` column.

    Attributes
    ----------
    feature_names_out_ : list of str
        The output columns, fixed at fit.

    Examples
    --------
    >>> customers = pd.DataFrame({"customer_id": ["a"], "signup_date": ["2024-01-01"]})
    >>> tickets = pd.DataFrame({"customer_id": ["a", "a"], "opened_at": pd.to_datetime(
    ...     ["2024-03-01", "2024-06-01"]), "closed_at": pd.NaT, "escalated": False})
    >>> f = ChurnFeatures(tickets=tickets, as_of="2024-04-01").fit(customers)
    >>> row = f.transform(customers).iloc[0]
    >>> row[["tenure_days", "tickets_total", "tickets_unresolved"]].tolist()
    [91.0, 1.0, 1.0]
    """

    def __init__(
        self,
        tickets: pd.DataFrame | None = None,
        surveys: pd.DataFrame | None = None,
        usage: pd.DataFrame | None = None,
        changes: pd.DataFrame | None = None,
        id_column: str = "customer_id",
        signup_column: str = "signup_date",
        windows: tuple[int, ...] = (30, 90),
        as_of=None,
    ) -> None:
        self.tickets = tickets
        self.surveys = surveys
        self.usage = usage
        self.changes = changes
        self.id_column = id_column
        self.signup_column = signup_column
        self.windows = windows
        self.as_of = as_of

    def _tables(self) -> dict[str, pd.DataFrame]:
        out = {}
        for name, cols in TABLE_COLUMNS.items():
            table = getattr(self, name)
            if table is None:
                continue
            missing = [c for c in cols if c not in table.columns]
            if missing:
                raise ValueError(f"the {name} table lacks column(s) {missing} (churn.{name})")
            out[name] = table
        return out

    def fit(self, X: pd.DataFrame, y=None) -> ChurnFeatures:
        """Check the inputs and fix the output columns."""
        X = self._check_x(X, reset=True)
        tables = self._tables()
        names = ["tenure_days"]
        if "tickets" in tables:
            names += [f"tickets_{w}d" for w in self.windows]
            names += ["tickets_total", "days_since_last_ticket", "tickets_unresolved"]
            names += ["tickets_escalated_90d"]
        if "surveys" in tables:
            for s in SURVEYS:
                names += [f"{s}_latest", f"{s}_trend", f"{s}_answers"]
        if "usage" in tables:
            names += ["usage_last_3", "usage_trend"]
        if "changes" in tables:
            names += ["revenue_change_90d", "downgrades_90d", "plan_changes_total"]
        self.feature_names_out_ = names
        return self

    def _check_x(self, X, reset: bool = False) -> pd.DataFrame:
        if reset or not hasattr(self, "n_features_in_"):
            X = check_frame(self, X, reset=True)
        else:
            X = check_frame(self, X, reset=False)
        need = [self.id_column, self.signup_column]
        if self.as_of is None:
            need.append(AS_OF)
        missing = [c for c in need if c not in X.columns]
        if missing:
            raise ValueError(
                f"the customer table lacks column(s) {missing} "
                "(churn.signup / id_column, or as_of when no date is given)"
            )
        return X

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Compute each customer's features as of its date."""
        check_is_fitted(self, "feature_names_out_")
        X = self._check_x(X)
        ids = X[self.id_column].astype(str).to_numpy()
        if self.as_of is None:
            cut = pd.to_datetime(X[AS_OF]).to_numpy()
        else:
            cut = np.full(len(X), pd.Timestamp(self.as_of).to_datetime64())
        cuts = pd.Series(cut, index=ids)
        cuts = cuts[~cuts.index.duplicated(keep="last")]
        out = pd.DataFrame(index=pd.Index(ids, name=self.id_column))
        signup = pd.to_datetime(X[self.signup_column]).to_numpy()
        out["tenure_days"] = (cut - signup) / np.timedelta64(1, "D")
        tables = self._tables()
        if "tickets" in tables:
            out = out.join(self._tickets(tables["tickets"], cuts))
        if "surveys" in tables:
            out = out.join(self._surveys(tables["surveys"], cuts))
        if "usage" in tables:
            out = out.join(self._usage(tables["usage"], cuts))
        if "changes" in tables:
            out = out.join(self._changes(tables["changes"], cuts))
        out = out.reindex(columns=self.feature_names_out_)
        zero = [c for c in out.columns if c.startswith(("tickets_", "downgrades", "plan_changes"))]
        zero += [c for c in out.columns if c.endswith("_answers") or c == "revenue_change_90d"]
        out[zero] = out[zero].fillna(0.0)
        return out.reset_index(drop=True).set_axis(X.index).astype(float)

    @staticmethod
    def _seen(table: pd.DataFrame, time_col: str, cuts: pd.Series) -> pd.DataFrame:
        ids = table["customer_id"].astype(str)
        cut = ids.map(cuts)
        ts = pd.to_datetime(table[time_col])
        keep = (ts < cut).to_numpy()
        seen = table.loc[keep].copy()
        seen["_id"] = ids[keep].to_numpy()
        seen["_age"] = ((cut - ts) / pd.Timedelta(days=1))[keep].to_numpy()
        seen["_cut"] = cut[keep].to_numpy()
        return seen

    def _tickets(self, table: pd.DataFrame, cuts: pd.Series) -> pd.DataFrame:
        t = self._seen(table, "opened_at", cuts)
        g = t.groupby("_id")
        out = pd.DataFrame({"tickets_total": g.size().astype(float)})
        for w in self.windows:
            out[f"tickets_{w}d"] = (t["_age"] <= w).groupby(t["_id"]).sum()
        out["days_since_last_ticket"] = g["_age"].min()
        closed = pd.to_datetime(t["closed_at"])
        open_ = closed.isna() | (closed >= t["_cut"])
        out["tickets_unresolved"] = open_.groupby(t["_id"]).sum()
        esc = t["escalated"].astype("boolean").fillna(False).astype(bool) & (t["_age"] <= 90)
        out["tickets_escalated_90d"] = esc.groupby(t["_id"]).sum()
        return out

    def _surveys(self, table: pd.DataFrame, cuts: pd.Series) -> pd.DataFrame:
        s = self._seen(table, "answered_at", cuts)
        s["score"] = pd.to_numeric(s["score"], errors="coerce")
        s = s.dropna(subset=["score"]).sort_values(["_id", "answered_at"], kind="stable")
        parts = {}
        for kind in SURVEYS:
            part = s[s["survey"].astype(str).str.lower() == kind]
            g = part.groupby("_id")["score"]
            latest, answers = g.last(), g.size().astype(float)
            previous = g.nth(-2)
            previous.index = part.loc[previous.index, "_id"]
            parts[f"{kind}_latest"] = latest
            parts[f"{kind}_trend"] = latest - previous.reindex(latest.index)
            parts[f"{kind}_answers"] = answers
        return pd.DataFrame(parts)

    def _usage(self, table: pd.DataFrame, cuts: pd.Series) -> pd.DataFrame:
        u = self._seen(table, "recorded_at", cuts)
        u["usage"] = pd.to_numeric(u["usage"], errors="coerce")
        u = u.sort_values(["_id", "recorded_at"], kind="stable")
        rank = u.groupby("_id").cumcount(ascending=False)
        last3 = u[rank < 3].groupby("_id")["usage"].mean()
        prev3 = u[(rank >= 3) & (rank < 6)].groupby("_id")["usage"].mean()
        return pd.DataFrame(
            {"usage_last_3": last3, "usage_trend": np.log1p(last3) - np.log1p(prev3)}
        )

    def _changes(self, table: pd.DataFrame, cuts: pd.Series) -> pd.DataFrame:
        c = self._seen(table, "changed_at", cuts)
        delta = pd.to_numeric(c["new_revenue"]) - pd.to_numeric(c["old_revenue"])
        recent = c["_age"] <= 90
        return pd.DataFrame(
            {
                "revenue_change_90d": delta.where(recent, 0.0).groupby(c["_id"]).sum(),
                "downgrades_90d": ((delta < 0) & recent).groupby(c["_id"]).sum(),
                "plan_changes_total": c.groupby("_id").size().astype(float),
            }
        )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the feature columns."""
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


def add_churn_features(frame: pd.DataFrame, data, config) -> tuple[pd.DataFrame, list[str]]:
    """Add the churn features, as of the snapshot, to the model frame.

    Returns
    -------
    frame : DataFrame
        The model frame with ``as_of`` set to the snapshot and one column per feature.
    names : list of str
        The added columns (numeric inputs of the feature pipeline).
    """
    spec = config.churn
    frame = frame.copy()
    frame[AS_OF] = churn_snapshot(config, data.as_of)
    X = pd.DataFrame(
        {
            "customer_id": data.frame[config.id_column].astype(str).to_numpy(),
            "signup_date": pd.to_datetime(data.frame[spec.signup]).to_numpy(),
            AS_OF: frame[AS_OF].to_numpy(),
        },
        index=frame.index,
    )
    builder = ChurnFeatures(**data.tables).fit(X)
    feats = builder.transform(X)
    return pd.concat([frame, feats], axis=1), list(builder.get_feature_names_out())
