"""Evaluation plots: each draws on a given Axes (or a new Figure) and returns the Axes.

Nothing here touches pyplot, so plots work on servers without a display and never open
windows; call the same function again on the returned Axes to overlay another model.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from crm_predict.evaluate.calibration import calibration_table, lift_table

# Marks the reference line so a second call on the same Axes does not draw it again.
_REFERENCE_GID = "crm_predict.reference"


def plot_calibration(
    y_true: ArrayLike,
    p: ArrayLike,
    n_bins: int = 10,
    ax: Axes | None = None,
    label: str = "model",
) -> Axes:
    """Reliability diagram: observed conversion rate against mean prediction per bin.

    Points on the diagonal are well calibrated: leads given 30% convert 30% of the time.

    Parameters
    ----------
    y_true : array-like of 0/1
        Whether each lead converted.
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.
    n_bins : int
        Number of equal-width probability bins, as in
        :func:`crm_predict.evaluate.calibration.calibration_table`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new Figure is made when omitted.
    label : str
        Legend entry for this model.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.

    Examples
    --------
    >>> ax = plot_calibration([0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9], n_bins=2, label="gbm")
    >>> ax = plot_calibration([0, 0, 1, 1], [0.2, 0.3, 0.7, 0.8], n_bins=2, ax=ax, label="bayes")
    >>> [line.get_label() for line in ax.lines]
    ['perfectly calibrated', 'gbm', 'bayes']
    """
    table = calibration_table(y_true, p, n_bins)
    ax = _axes(ax)
    _reference_line(ax, "perfectly calibrated")
    ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label=label)
    ax.set(
        title="Calibration",
        xlabel="Mean predicted conversion probability",
        ylabel="Observed conversion rate",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend()
    return ax


def plot_lift(
    y_true: ArrayLike,
    p: ArrayLike,
    n_groups: int = 10,
    ax: Axes | None = None,
    label: str = "model",
) -> Axes:
    """Cumulative gains: share of all conversions found by working the list top down.

    The diagonal is a randomly ordered list; the further the curve bows above it, the more
    conversions the first calls reach.

    Parameters
    ----------
    y_true : array-like of 0/1
        Whether each lead converted.
    p : array-like of float in [0, 1]
        Predicted conversion probability per lead.
    n_groups : int
        Number of rank groups, as in :func:`crm_predict.evaluate.calibration.lift_table`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new Figure is made when omitted.
    label : str
        Legend entry for this model.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.

    Examples
    --------
    >>> ax = plot_lift([1, 0, 0, 1, 0, 0], [0.9, 0.1, 0.2, 0.8, 0.3, 0.4], n_groups=3)
    >>> ax.lines[-1].get_ydata().tolist()
    [0.0, 1.0, 1.0, 1.0]
    """
    table = lift_table(y_true, p, n_groups)
    ax = _axes(ax)
    _reference_line(ax, "random order")
    contacted = table["n"].cumsum() / table["n"].sum()
    ax.plot(
        [0.0, *contacted],
        [0.0, *table["cumulative_capture"]],
        marker="o",
        label=label,
    )
    ax.set(
        title="Cumulative gains",
        xlabel="Share of leads contacted, highest score first",
        ylabel="Share of conversions captured",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend()
    return ax


def _axes(ax: Axes | None) -> Axes:
    return Figure().subplots() if ax is None else ax


def _reference_line(ax: Axes, label: str) -> None:
    if not any(line.get_gid() == _REFERENCE_GID for line in ax.lines):
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label=label, gid=_REFERENCE_GID)
