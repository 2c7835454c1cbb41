"""The champion on evidence: out-of-fold log loss, then a holdout check that speaks up.

``train`` fits every model on the training rows; this module decides which one is
registered as the task's champion and whether the holdout contradicts that choice:

* :func:`choose_champion` takes each model's predictions on rows it did not train on (the
  rolling-origin or cross-fitting folds inside the training period) and picks the lowest
  log loss, or a simpler model within one standard error of it. The holdout is never used
  to choose.
* :func:`holdout_check` then compares the champion's holdout ROC AUC with every other
  fitted model's (DeLong's paired test) and returns a warning when the champion is behind
  by more than one standard error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crm_predict.evaluate.compare import paired_auc
from crm_predict.models.one_se import simplest_within_one_se

LABELS = {
    "gbm": "LightGBM blend",
    "logreg": "logistic regression",
    "bayes": "Bayesian model",
}


SIMPLEST_FIRST = ("logreg", "bayes", "gbm")
"""Models from simplest to most flexible: a logistic regression, a hierarchical logistic
regression, a blend with gradient-boosted trees."""


def model_label(name: str) -> str:
    """A model's name as the console and the report say it."""
    return LABELS.get(name, name)


@dataclass
class Selection:
    """Which model is the champion, and the evidence.

    Attributes
    ----------
    champion : str
        The chosen model (``gbm``, ``logreg`` or ``bayes``).
    log_loss : dict
        Out-of-fold log loss per model, on the same rows.
    rows : int
        How many out-of-fold rows the comparison used.
    evidence : str
        How the rows were held out.
    reason : str
        One sentence: which model and why.
    holdout : dict
        Per other model: holdout ROC AUC of both, the difference and its standard error.
    warning : str or None
        Set when the champion's holdout ROC AUC is below another model's by more than one
        standard error.
    """

    champion: str
    log_loss: dict[str, float]
    rows: int
    evidence: str
    reason: str
    holdout: dict[str, dict[str, float]] = field(default_factory=dict)
    warning: str | None = None

    def as_dict(self) -> dict:
        """The ``selection`` entry of ``metrics.json``."""
        return {
            "champion": self.champion,
            "rule": "lowest out-of-fold log loss, or the simplest model within one standard "
            "error of it; the holdout is for reporting only",
            "evidence": self.evidence,
            "rows": self.rows,
            "log_loss": {k: round(v, 5) for k, v in self.log_loss.items()},
            "reason": self.reason,
            "holdout": self.holdout,
            "warning": self.warning,
        }


def choose_champion(y: np.ndarray, predictions: dict[str, np.ndarray], evidence: str) -> Selection:
    """The simplest model within one standard error of the lowest out-of-fold log loss.

    The one-standard-error rule (Breiman et al., 1984): the model with the lowest mean log
    loss is the best estimate, but a model whose paired difference from it is within one
    standard error is as good as the data can tell, and the simpler one (in the order of
    :data:`SIMPLEST_FIRST`) generalises to new exports with less risk.

    Parameters
    ----------
    y : ndarray
        0/1 outcomes of the out-of-fold rows.
    predictions : dict
        Model name → probabilities on those rows, each from a fit that did not see the row.
    evidence : str
        How the rows were held out (stated in the reason).

    Returns
    -------
    Selection

    Examples
    --------
    >>> y = np.array([0, 1, 0, 1])
    >>> sharp, flat = np.array([0.4, 0.6, 0.4, 0.6]), np.full(4, 0.5)
    >>> s = choose_champion(y, {"gbm": sharp, "logreg": flat}, "x")
    >>> s.champion
    'gbm'
    """
    rule = simplest_within_one_se(y, predictions, SIMPLEST_FIRST)
    champion, best, losses, margin = rule.choice, rule.best, rule.log_loss, rule.standard_error
    others = sorted((v, k) for k, v in losses.items() if k != champion)
    versus = ", ".join(f"{model_label(k)} {v:.4f}" for v, k in others)
    held = f"on {len(np.asarray(y)):,} training records held out by {evidence}"
    if champion == best:
        reason = (
            f"{model_label(champion)} has the lowest out-of-fold log loss "
            f"({losses[champion]:.4f}{'; ' + versus if versus else ''}) {held}"
        )
    else:
        reason = (
            f"{model_label(champion)} is within one standard error of the lowest out-of-fold "
            f"log loss ({losses[champion]:.4f} vs {model_label(best)} {losses[best]:.4f}, "
            f"standard error {margin[champion]:.4f}) {held}, and simpler: as good as the "
            "data can tell"
        )
    return Selection(champion, losses, len(y), evidence, reason)


def holdout_check(selection: Selection, y: np.ndarray, scores: dict[str, np.ndarray]) -> Selection:
    """Compare the champion's holdout ROC AUC with every other model's; warn if behind.

    The champion is behind when another model's AUC is higher by more than the paired
    (DeLong) standard error of the difference. The selection is not changed: the holdout
    reports, it does not choose.

    Parameters
    ----------
    selection : Selection
        From :func:`choose_champion`.
    y : ndarray
        Holdout outcomes.
    scores : dict
        Model name → holdout probabilities.

    Returns
    -------
    Selection
        The same selection with ``holdout`` and ``warning`` filled in.
    """
    champ = selection.champion
    behind = []
    for name, p in scores.items():
        if name == champ:
            continue
        auc_c, auc_o, se = paired_auc(y, scores[champ], p)
        gap = auc_o - auc_c
        selection.holdout[name] = {
            "champion_auc": round(auc_c, 4),
            "other_auc": round(auc_o, 4),
            "difference": round(gap, 4),
            "standard_error": round(se, 4),
        }
        if np.isfinite(se) and gap > se:
            behind.append((gap, name, auc_o, auc_c, se))
    if behind:
        gap, name, auc_o, auc_c, se = max(behind)
        selection.warning = (
            f"The champion ({model_label(champ)}) ranks the holdout worse than the "
            f"{model_label(name)}: ROC AUC {auc_c:.3f} vs {auc_o:.3f}, a gap of {gap:.3f} "
            f"beyond one standard error ({se:.3f}). The training folds preferred the "
            "champion; the most recent leads may behave differently (see the base-rate "
            f"check). Consider `--models` with the {model_label(name)}, or retrain on more "
            "recent data."
        )
    return selection
