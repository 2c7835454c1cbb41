"""Drift monitoring: how far a new lead list has moved from the leads a model was trained on.

At training time :func:`crm_predict.evaluate.profile.reference_profile` stores a compact snapshot of
the training rows with the model (``ModelBundle.reference``): per CRM field the bins (numbers) or
level shares (categories) and the missing share, and the distribution of the model's score.
:func:`monitor_leads` streams a lead list through the same scorer as ``crm-predict score``, counts
it into the same bins and reports the population stability index (PSI) per field and for the score,
new and vanished categories and changes in missing shares.

PSI reads as: below 0.1 stable, 0.1 to 0.25 a moderate shift worth a look, above 0.25 a
major shift (the model's view of these leads is out of date; retrain).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rich.table import Table

from crm_predict.data.files import atomic_path
from crm_predict.data.leadlist import ReadOptions, read_lead_list
from crm_predict.evaluate.psi import (
    MISSING_CHANGE,
    PSI_MAJOR,
    PSI_MODERATE,
    SCORE,
    Tally,
    status,
)
from crm_predict.exceptions import CRMPredictError
from crm_predict.scoring.scorer import Scorer
from crm_predict.scoring.task_models import TaskModels

if TYPE_CHECKING:
    from collections.abc import Callable

    from crm_predict.scoring.bundle import ModelBundle


@dataclass
class DriftResult:
    """What :func:`monitor_leads` found.

    Attributes
    ----------
    fields : DataFrame
        One row per field, largest PSI first: ``field, kind, psi, status,
        missing_reference, missing_now, missing_change, new_levels, vanished_levels``.
    score_psi : float
        PSI of the model's score.
    n_rows : int
        Leads compared.
    n_reference : int
        Training rows in the reference profile.
    label : str
        The model compared against.
    as_of : str
        The date the leads were seen from.
    """

    fields: pd.DataFrame
    score_psi: float
    n_rows: int
    n_reference: int
    label: str = ""
    as_of: str = ""

    @property
    def max_psi(self) -> float:
        """The largest PSI over the fields and the score."""
        values = [self.score_psi, *self.fields["psi"].tolist()]
        return float(np.nanmax(values)) if values else 0.0

    def exceeds(self, threshold: float) -> bool:
        """Whether any field or the score drifted above ``threshold``."""
        return self.max_psi > threshold

    def flagged(self) -> pd.DataFrame:
        """Fields with a moderate or major PSI, new or vanished levels, or a missing-share
        change above :data:`MISSING_CHANGE`."""
        f = self.fields
        hit = (
            (f["psi"] >= PSI_MODERATE)
            | f["new_levels"].map(bool)
            | f["vanished_levels"].map(bool)
            | (f["missing_change"].abs() > MISSING_CHANGE)
        )
        return f[hit]

    def to_dict(self) -> dict:
        """JSON-ready summary (what ``--json`` writes and the report's drift section reads)."""
        return {
            "model": self.label,
            "as_of": self.as_of,
            "n_rows": self.n_rows,
            "n_reference": self.n_reference,
            "max_psi": self.max_psi,
            "score": {"psi": self.score_psi, "status": status(self.score_psi)},
            "thresholds": {"moderate": PSI_MODERATE, "major": PSI_MAJOR},
            "fields": [
                {k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()}
                for row in self.fields.to_dict("records")
            ],
        }


def compare_profile(
    reference: dict, frame: pd.DataFrame, scores: np.ndarray | None = None
) -> DriftResult:
    """Drift of model-frame rows against a reference profile (all rows at once).

    Parameters
    ----------
    reference : dict
        From :func:`reference_profile`.
    frame : DataFrame
        Model-frame rows (fields missing from it are skipped).
    scores : array of float, optional
        The model's scores of those rows (score PSI is NaN without them).

    Returns
    -------
    DriftResult
    """
    tallies = _tallies(reference, frame.columns)
    for name, tally in tallies.items():
        tally.add(frame[name])
    score = Tally(reference["score"])
    if scores is not None:
        score.add(np.asarray(scores, dtype=float))
    return _result(reference, tallies, score if scores is not None else None, len(frame))


def _tallies(reference: dict, columns) -> dict[str, Tally]:
    if not reference or "fields" not in reference:
        raise CRMPredictError(
            "this model has no training profile to compare with; retrain it with this "
            "version of crm_predict (crm-predict train) and monitor again"
        )
    return {k: Tally(spec) for k, spec in reference["fields"].items() if k in columns}


def _result(
    reference: dict, tallies: dict[str, Tally], score: Tally | None, n_rows: int, **kw
) -> DriftResult:
    rows = [t.compare(name) for name, t in tallies.items()]
    fields = pd.DataFrame(
        rows,
        columns=[
            "field",
            "kind",
            "psi",
            "missing_reference",
            "missing_now",
            "missing_change",
            "new_levels",
            "vanished_levels",
        ],
    )
    fields.insert(3, "status", fields["psi"].map(status))
    fields = fields.sort_values(["psi", "field"], ascending=[False, True], kind="stable")
    score_psi = score.compare(SCORE)["psi"] if score is not None else float("nan")
    return DriftResult(
        fields.reset_index(drop=True), score_psi, n_rows, int(reference["n_rows"]), **kw
    )


def monitor_leads(
    models: TaskModels | ModelBundle,
    source: str | Path,
    as_of: str | pd.Timestamp,
    activities: pd.DataFrame | None = None,
    label: str | None = None,
    chunksize: int = 50_000,
    progress: Callable[[int], None] | None = None,
    options: ReadOptions | None = None,
) -> DriftResult:
    """Compare a lead list with the training snapshot stored with the main model.

    The list is read in chunks, checked and built into model-frame rows by the scorer of
    ``crm-predict score`` (:class:`~crm_predict.scoring.scorer.Scorer`: joins, the lead's
    age at ``as_of``, touch aggregates, churn features), then scored; only bin counts are
    kept, so memory does not grow with the list. The rows scoring sets aside are left out
    too: totals, footers, missing or duplicate ids, unreadable values and, for a churn
    task, customers gone by ``as_of`` or not customers yet.

    Parameters
    ----------
    models : TaskModels or ModelBundle
        The task's models (see :func:`crm_predict.tracking.load_task_models`), or one model
        alone: the main model's ``reference`` profile and score are compared.
    source : str or Path
        Lead list: CSV, Parquet or Excel.
    as_of : str or Timestamp
        The date the leads are seen from.
    activities : DataFrame, optional
        Touch table (default: the one the task config names).
    label : str, optional
        Model name shown in the output (default: the models' label).
    chunksize : int
        Rows per chunk.
    progress : callable, optional
        Called with the rows read so far.
    options : ReadOptions, optional
        ``sep``, ``encoding``, ``date_format`` and ``strict``, as for scoring
        (:mod:`crm_predict.data.leadlist`); the list is read as scoring reads it.

    Returns
    -------
    DriftResult

    Examples
    --------
    >>> drift = monitor_leads(models, "new_leads.csv", "2025-01-01")  # doctest: +SKIP
    >>> drift.flagged()[["field", "psi", "new_levels"]]  # doctest: +SKIP
    """
    models = TaskModels.of(models)
    bundle = models.main
    label = models.label if label is None else label
    as_of = pd.Timestamp(as_of)
    reference = getattr(bundle, "reference", None) or {}
    tallies: dict[str, Tally] | None = None
    _tallies(reference, [])  # fails early, naming the fix, for a model without a profile
    score = Tally(reference["score"])
    options = options or ReadOptions()
    scorer = Scorer(models, as_of, activities, options.date_format)
    n = 0
    for chunk in read_lead_list(source, scorer.config, chunksize, options, scorer.provided):
        problems, chunk = scorer.check(chunk)
        chunk = chunk[(problems == "").to_numpy()].reset_index(drop=True)
        if chunk.empty:
            continue
        frame = scorer.frame(chunk)
        if tallies is None:
            tallies = _tallies(reference, frame.columns)
        for name, tally in tallies.items():
            tally.add(frame[name])
        score.add(bundle.pipeline.predict_proba(frame)[:, 1])
        n += len(chunk)
        if progress is not None:
            progress(n)
    if tallies is None:
        raise CRMPredictError("the lead list has no rows that can be scored")
    return _result(reference, tallies, score, n, label=label, as_of=str(as_of.date()))


def write_drift_json(result: DriftResult, path: str | Path) -> Path:
    """Write :meth:`DriftResult.to_dict` atomically as JSON."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path


def drift_table(result: DriftResult, top: int = 25, records: str = "leads") -> Table:
    """A rich table of the fields, largest PSI first (the score on top); ``records`` names
    the rows (``leads`` or ``customers``)."""
    title = f"Drift against the training {records} ({result.n_rows:,} {records})"
    table = Table(title=title)
    for col in ("field", "PSI", "status", "missing then → now", "new levels", "vanished"):
        table.add_column(col, justify="right" if col == "PSI" else "left")
    style = {"major": "bold red", "moderate": "yellow", "stable": "green"}
    s = status(result.score_psi)
    table.add_row("model score", f"{result.score_psi:.3f}", f"[{style[s]}]{s}[/]", "", "", "")
    for row in result.fields.head(top).to_dict("records"):
        table.add_row(
            str(row["field"]),
            f"{row['psi']:.3f}",
            f"[{style[row['status']]}]{row['status']}[/]",
            f"{row['missing_reference']:.1%} → {row['missing_now']:.1%}",
            ", ".join(map(str, row["new_levels"][:5])),
            ", ".join(map(str, row["vanished_levels"][:5])),
        )
    return table
