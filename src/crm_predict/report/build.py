"""Assemble what a manager's report shows: scored leads, drivers, lead details, segments.

The scores, grades, intervals and reasons come from :func:`crm_predict.scoring.batch.score_leads`
itself (written to a temporary Parquet file and read back), so the report shows exactly what
the score file says. Per-field contributions for the charts come from
:func:`crm_predict.explain.contributions.field_contributions` on model-frame rows built by the same
scorer. Nothing here fits a model.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crm_predict.data.io import read_table
from crm_predict.data.leadlist import ReadOptions, read_lead_list
from crm_predict.data.loading import apply_joins
from crm_predict.exceptions import CRMPredictError, InputWarning
from crm_predict.explain.reasons import MIN_POINTS
from crm_predict.report.cx import build_cx
from crm_predict.report.drivers import Drivers, Waterfall, explain_leads
from crm_predict.scoring.batch import score_leads
from crm_predict.scoring.bundle import ModelBundle, reason_floor
from crm_predict.scoring.scorer import Scorer
from crm_predict.scoring.task_models import TaskModels

OWNER_FIELDS = ("owner", "sales_agent")
"""Config fields (among ``features.categorical``) that name a lead's sales rep."""

MISSING_LEVEL = "(missing)"


@dataclass
class OwnerList:
    """One sales rep's leads: counts, most promising and least promising."""

    owner: str
    n: int
    grades: dict[str, int]
    best: pd.DataFrame
    worst: pd.DataFrame


@dataclass
class ReportData:
    """Everything the HTML report states, as data.

    Attributes
    ----------
    card : dict
        The model card (training window, split, holdout metrics and tables).
    label : str
        Model name and version, e.g. ``leads_demo@champion v3``.
    as_of : Timestamp
        The date the leads were scored as of.
    description : str
        What the model predicts.
    leads : DataFrame
        The score file's rows in rank order (``rank`` 1 first), unchanged.
    owners : Series or None
        Each lead's owner (aligned with ``leads``) when the task has an owner field.
    owner_field : str or None
    rows_read : int
        Rows in the lead list, scored or not.
    rejected : dict
        Why rows could not be scored, and how many.
    drivers : Drivers or None
        None for a model without per-field contributions.
    waterfalls : list of Waterfall
    segments : DataFrame
        Per segment level: holdout ``n, observed_rate, predicted_rate, ece`` and this
        list's ``list_n, list_mean_score``.
    bayes_segments : DataFrame or None
        The Bayesian model's segment table (rates with intervals), when it has one.
    overall_rate : float
        Training conversion rate.
    top : int
        How many leads the "calls to make" list shows.
    timing : dict or None
        The time-to-convert model's card (horizons, holdout comparison with the
        baselines, per-segment conversion curves), when one was given.
    drift : dict or None
        A drift check of the list against the training leads
        (:meth:`crm_predict.lifecycle.monitor.DriftResult.to_dict`), computed elsewhere.
    kind : str
        ``conversion`` or ``churn`` (the page then speaks of customers and churn).
    grade_cutoffs : dict
        Lowest score of grades A, B and C (below C: D).
    min_points : float
        The weakest push, in percentage points, that the reasons quote.
    cx : CXData or None
        Churn tasks: the CX metrics and the at-risk list (:mod:`crm_predict.report.cx`).
        ``leads`` then also carries ``p_convert`` equal to the score file's ``p_churn``,
        which the shared sections read.
    """

    card: dict
    label: str
    as_of: pd.Timestamp
    description: str
    leads: pd.DataFrame
    owners: pd.Series | None
    owner_field: str | None
    rows_read: int
    rejected: dict[str, int]
    drivers: Drivers | None
    waterfalls: list[Waterfall]
    segments: pd.DataFrame
    bayes_segments: pd.DataFrame | None
    overall_rate: float
    id_column: str
    top: int = 25
    grade_counts: dict[str, int] = field(default_factory=dict)
    drift: dict | None = None
    timing: dict | None = None
    kind: str = "conversion"
    grade_cutoffs: dict[str, float] = field(default_factory=dict)
    min_points: float = MIN_POINTS
    cx: object | None = None

    @property
    def top_leads(self) -> pd.DataFrame:
        """The ``top`` highest-scored leads."""
        return self.leads.head(self.top)

    def owner_lists(self, best: int = 5, worst: int = 3) -> list[OwnerList]:
        """Each owner's most and least promising leads, owners in name order.

        Examples
        --------
        >>> data.owner_lists(best=5, worst=3)[0].owner  # doctest: +SKIP
        'Ada Lovelace'
        """
        if self.owners is None:
            return []
        out = []
        for owner, idx in self.owners.groupby(self.owners, sort=True).groups.items():
            rows = self.leads.loc[idx].sort_values("rank", kind="stable")
            shown = rows.head(best)
            rest = rows.iloc[len(shown) :]
            counts = rows["grade"].value_counts()
            out.append(
                OwnerList(
                    str(owner),
                    len(rows),
                    {g: int(counts.get(g, 0)) for g in ("A", "B", "C", "D")},
                    shown,
                    rest.tail(worst),
                )
            )
        return out


def owner_field_of(bundle: ModelBundle) -> str | None:
    """The config field naming each lead's sales rep, if the task has one.

    Examples
    --------
    >>> owner_field_of(bundle)  # doctest: +SKIP
    'owner'
    """
    categorical = bundle.config.features.categorical or []
    return next((f for f in OWNER_FIELDS if f in categorical), None)


def build_report(
    models: TaskModels | ModelBundle,
    source: str | Path,
    as_of: str | pd.Timestamp,
    label: str | None = None,
    top: int = 25,
    activities: pd.DataFrame | None = None,
    sample: int = 4000,
    seed: int = 0,
    chunksize: int = 50_000,
    options: ReadOptions | None = None,
) -> ReportData:
    """Score a lead list and gather everything the report shows.

    Parameters
    ----------
    models : TaskModels or ModelBundle
        The task's models (see :func:`crm_predict.tracking.load_task_models`), or one model
        alone; the main model's card is the report's. A time-to-convert model's columns
        join the scored leads and its card (holdout comparison, per-segment conversion
        curves) becomes ``ReportData.timing``. A Bayesian model (beside another main model)
        adds each lead's 90% interval, its segment rates and its per-field effects beside
        the main model's.
    source : str or Path
        Lead list (CSV, Parquet or Excel), as for ``crm-predict score``.
    as_of : str or Timestamp
        The date the leads are seen from.
    label : str, optional
        Model name and version shown in the report (default: the models' label).
    top : int
        Leads in the overall "calls to make" list.
    activities : DataFrame, optional
        Touch table (default: the one the task config names).
    sample : int
        Leads whose contributions feed the "what drives conversion" charts (a seeded
        random sample; all leads when the list is shorter).
    seed : int
        Seed of that sample.
    chunksize : int
        Rows per chunk when reading the list.
    options : ReadOptions, optional
        How to read the lead list, as for scoring (:mod:`crm_predict.data.leadlist`).

    Returns
    -------
    ReportData

    Examples
    --------
    >>> data = build_report(bundle, "open_leads.csv", as_of="2025-01-01")  # doctest: +SKIP
    >>> data.top_leads[["lead_id", "p_convert", "grade"]].head(3)  # doctest: +SKIP
    """
    models = TaskModels.of(models)
    bundle, bayes, timing = models.main, models.bayes, models.timing
    label = models.label if label is None else label
    config = bundle.config
    as_of = pd.Timestamp(as_of)
    if activities is None and bundle.aggregator is not None and config.activities is not None:
        # Read once: the score run and the scorer for the charts share it.
        activities = read_table(config.activities)
    with tempfile.TemporaryDirectory(prefix=".crm-predict-report-") as tmp:
        summary = score_leads(
            models,
            Path(tmp) / "scored.parquet",
            as_of=as_of,
            source=source,
            activities=activities,
            model_label=label,
            chunksize=chunksize,
            options=options,
        )
        leads = pd.read_parquet(summary.output)
        rejected = _rejected(summary.rejected)
    leads = leads.sort_values("rank", kind="stable").reset_index(drop=True)
    if "p_churn" in leads.columns and "p_convert" not in leads.columns:
        leads["p_convert"] = leads["p_churn"]  # the shared sections read p_convert
    id_col = config.id_column
    scorer = Scorer(models, as_of, activities, options.date_format if options else None)
    owner_field = owner_field_of(bundle)
    wanted = [c for c in dict.fromkeys([owner_field, *config.segments]) if c]
    quiet = ReadOptions(options.sep, options.encoding, options.date_format) if options else None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)  # said once, by the score run
        raw, joined = _read_joined(source, scorer, wanted, chunksize, quiet)
    first = pd.Series(np.arange(len(raw)), index=joined[id_col].to_numpy())
    first = first[~first.index.duplicated()]
    pos = first.reindex(leads[id_col].to_numpy())
    if pos.isna().any():
        missing = ", ".join(pos.index[pos.isna()][:5])
        raise CRMPredictError(f"scored leads not found again in the lead list: {missing}")
    pos = pos.to_numpy(dtype=np.int64)
    owners = None
    if owner_field and owner_field in joined.columns:
        owners = _levels(joined[owner_field].iloc[pos]).set_axis(leads.index)
    drivers, waterfalls = None, []
    if bundle.explains and len(leads):
        drivers, waterfalls = explain_leads(scorer, raw, pos, leads, sample, seed)
    segments = _segments(bundle, joined.iloc[pos].reset_index(drop=True), leads)
    estimator = (bayes or bundle).pipeline[-1]
    bayes_segments = estimator.segment_table() if hasattr(estimator, "segment_table") else None
    counts = leads["grade"].value_counts()
    return ReportData(
        card=dict(bundle.card),
        label=label,
        as_of=as_of,
        description=bundle.card.get("description") or config.description or "",
        leads=leads,
        owners=owners,
        owner_field=owner_field if owners is not None else None,
        rows_read=summary.rows_read,
        rejected=rejected,
        drivers=drivers,
        waterfalls=waterfalls,
        segments=segments,
        bayes_segments=bayes_segments,
        overall_rate=float(bundle.rates.overall),
        id_column=id_col,
        top=top,
        grade_counts={g: int(counts.get(g, 0)) for g in ("A", "B", "C", "D")},
        timing=dict(timing.card) if timing is not None else None,
        kind="churn" if config.is_churn else "conversion",
        grade_cutoffs=dict(bundle.grade_cutoffs),
        min_points=reason_floor(config),
        cx=build_cx(config, as_of, leads, top) if config.churn_history is not None else None,
    )


def _read_joined(
    source: str | Path,
    scorer: Scorer,
    wanted: list[str],
    chunksize: int,
    options: ReadOptions | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw lead list, and per row its id as the score file writes it plus ``wanted``
    joined fields. Read in the same chunks as the score run, so ids are typed alike."""
    config = scorer.config
    raws, joins = [], []
    for chunk in read_lead_list(source, config, chunksize, options, scorer.provided):
        # Dates parsed as the score run parsed them (one format per column).
        chunk = scorer.checker.check(chunk)[1]
        joined = apply_joins(chunk, config, scorer.tables)
        keep = joined[[c for c in wanted if c in joined.columns]].copy()
        keep[config.id_column] = joined[config.id_column].astype(str)
        raws.append(chunk)
        joins.append(keep)
    return pd.concat(raws, ignore_index=True), pd.concat(joins, ignore_index=True)


def _rejected(path: Path | None) -> dict[str, int]:
    """Rejected rows grouped by kind ("employees is not a number"), most frequent first."""
    if path is None:
        return {}
    reasons = pd.read_csv(path, usecols=["reason"], keep_default_na=False)["reason"]
    kinds = [re.sub(r": .* is not an? ", " is not a ", str(r)) for r in reasons]
    return dict(Counter(kinds).most_common())


def _levels(values: pd.Series) -> pd.Series:
    text = values.astype(object).where(values.notna(), MISSING_LEVEL)
    return text.astype(str).reset_index(drop=True)


def _segments(bundle: ModelBundle, joined: pd.DataFrame, leads: pd.DataFrame) -> pd.DataFrame:
    """Holdout segment metrics from the card beside this list's counts and mean score."""
    columns = ["field", "level", "n", "observed_rate", "predicted_rate", "ece"]
    holdout = pd.DataFrame(bundle.card.get("segments", []))
    holdout = holdout[columns] if len(holdout) else pd.DataFrame(columns=columns)
    fields = list(dict.fromkeys([*holdout["field"].astype(str), *bundle.config.segments]))
    parts = []
    for name in fields:
        if name not in joined.columns:
            continue
        level = _levels(joined[name])
        stats = leads["p_convert"].groupby(level.to_numpy()).agg(["size", "mean"])
        parts.append(
            pd.DataFrame(
                {
                    "field": name,
                    "level": stats.index.astype(str),
                    "list_n": stats["size"].to_numpy(),
                    "list_mean_score": stats["mean"].to_numpy(),
                }
            )
        )
    listed = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["field", "level", "list_n", "list_mean_score"])
    )
    merged = holdout.merge(listed, on=["field", "level"], how="outer")
    merged["field"] = pd.Categorical(merged["field"], categories=fields)
    merged = merged.assign(_n=merged["n"].fillna(-1), _list=merged["list_n"].fillna(0))
    merged = merged.sort_values(
        ["field", "_n", "_list", "level"], ascending=[True, False, False, True]
    )
    return merged.drop(columns=["_n", "_list"]).reset_index(drop=True)
