"""The one-standard-error rule: the simplest candidate as good as the best, as far as data tell.

Used twice: a calibrated model picks its calibration map with it
(:class:`~crm_predict.models.gbm.CalibratedLGBM`) and ``train`` picks the champion among
the fitted models (:mod:`crm_predict.training.selection`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_CLIP = 1e-6


def row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-row log loss of probabilities ``p`` for 0/1 outcomes ``y`` (clipped at 1e-6).

    Examples
    --------
    >>> row_log_loss(np.array([1, 0]), np.array([0.5, 0.5])).round(4).tolist()
    [0.6931, 0.6931]
    """
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    return -(y * np.log(np.clip(p, _CLIP, 1)) + (1 - y) * np.log(np.clip(1 - p, _CLIP, 1)))


@dataclass(frozen=True)
class OneSEChoice:
    """What the rule chose, and from what.

    Attributes
    ----------
    choice : str
        The chosen candidate.
    best : str
        The candidate with the lowest mean log loss.
    log_loss : dict
        Mean log loss per candidate.
    standard_error : dict
        Per candidate, the standard error of its paired per-row difference from ``best``.
    """

    choice: str
    best: str
    log_loss: dict[str, float]
    standard_error: dict[str, float]


def simplest_within_one_se(
    y: np.ndarray, predictions: dict[str, np.ndarray], simplest_first: Sequence[str]
) -> OneSEChoice:
    """The simplest candidate whose log loss is within one standard error of the lowest.

    The candidate with the lowest mean log loss is the best estimate, but one whose paired
    difference from it is within one standard error (of the per-row differences) is as good
    as the data can tell, and the simpler one generalises with less risk (Breiman et al.,
    1984). Candidates not in ``simplest_first`` rank after those that are.

    Parameters
    ----------
    y : ndarray
        0/1 outcomes of rows none of the candidates was fitted on.
    predictions : dict
        Candidate name → probabilities on those rows.
    simplest_first : sequence of str
        Candidate names from the simplest to the most flexible.

    Returns
    -------
    OneSEChoice

    Examples
    --------
    >>> y = np.array([0, 1, 0, 1])
    >>> sharp, flat = np.array([0.4, 0.6, 0.4, 0.6]), np.full(4, 0.5)
    >>> simplest_within_one_se(y, {"gbm": sharp, "logreg": flat}, ["logreg", "gbm"]).choice
    'gbm'
    """
    rows = {name: row_log_loss(y, p) for name, p in predictions.items()}
    losses = {name: float(v.mean()) for name, v in rows.items()}
    best = min(losses, key=losses.get)
    n = len(np.asarray(y))
    margin = {
        name: float(np.std(v - rows[best], ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        for name, v in rows.items()
    }
    close = [name for name in losses if losses[name] - losses[best] <= margin[name]]
    order = list(simplest_first)

    def rank(name: str) -> tuple[int, float]:
        return (order.index(name) if name in order else len(order), losses[name])

    return OneSEChoice(min(close, key=rank), best, losses, margin)
