"""The report's charts: drawn by :mod:`crm_predict.report.figures`, embedded as base64 PNG."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from crm_predict.report import alt, figures
from crm_predict.report.build import ReportData

BEESWARM_FIELDS = 12
DRIVER_FIELDS = 15
FOREST_LEVELS = 12
_DPI = 144


@dataclass
class Chart:
    """One embedded chart: base64 PNG, display width in pixels and alt text.

    Attributes
    ----------
    data : str
        The PNG, base64-encoded.
    width : int
        Width on the page, in CSS pixels.
    alt : str
        What the chart shows, for screen readers and when images are off.
    """

    data: str
    width: int
    alt: str


def embed(draw: Callable, size: tuple[float, float], alt: str) -> Chart:
    """Draw a chart on a new figure and embed it.

    Parameters
    ----------
    draw : callable
        Called with the figure's one Axes; draws the chart.
    size : (float, float)
        Figure width and height in inches.
    alt : str
        Alt text.

    Returns
    -------
    Chart

    Examples
    --------
    >>> chart = embed(lambda ax: ax.plot([0, 1], [0, 1]), (4.0, 3.0), "A line")
    >>> chart.width, chart.alt
    (384, 'A line')
    """
    fig = Figure(figsize=size, layout="constrained")
    draw(fig.subplots())
    return Chart(figures.png_base64(fig, _DPI), round(size[0] * 96), alt)


def _forest_table(table: pd.DataFrame) -> pd.DataFrame:
    """The largest levels of each field, highest rate first; levels no training lead had
    (reported at the population rate) say nothing and are left out."""
    table = table[table["n"] > 0] if "n" in table.columns else table
    parts = [
        rows.sort_values("n", ascending=False, kind="stable")
        .head(FOREST_LEVELS)
        .sort_values("rate", ascending=False, kind="stable")
        for _, rows in table.groupby("field", sort=False)
    ]
    return pd.concat(parts, ignore_index=True) if parts else table


def model_charts(data: ReportData) -> dict[str, Chart | None]:
    """The charts of the model sections; None for a chart the model has no data for.

    Parameters
    ----------
    data : ReportData
        From :func:`crm_predict.report.build_report`.

    Returns
    -------
    dict
        ``drivers`` and ``beeswarm`` (field effects), ``forest`` (Bayesian segment rates),
        ``calibration`` and ``lift`` (holdout), each a :class:`Chart` or None.
    """
    out: dict[str, Chart | None] = dict.fromkeys(
        ("drivers", "beeswarm", "forest", "calibration", "lift")
    )
    drivers = data.drivers
    if drivers is not None:
        table = drivers.table.head(DRIVER_FIELDS)
        out["drivers"] = embed(
            lambda ax: figures.plot_drivers(table, ax=ax),
            (7.5, 0.3 * len(table) + 1.0),
            alt.drivers_alt(table),
        )
        k = min(BEESWARM_FIELDS, drivers.points.shape[1])
        labels = drivers.table["label"].head(k).tolist()
        out["beeswarm"] = embed(
            lambda ax: figures.plot_beeswarm(
                drivers.points[:, :k], labels, drivers.colour[:, :k], ax=ax
            ),
            (9.0, 0.42 * k + 1.1),
            alt.beeswarm_alt(drivers.points[:, :k], labels),
        )
    if data.bayes_segments is not None and len(data.bayes_segments):
        forest = _forest_table(data.bayes_segments)
        out["forest"] = embed(
            lambda ax: figures.plot_segment_forest(forest, overall=data.overall_rate, ax=ax),
            (7.5, 0.26 * len(forest) + 1.0),
            alt.forest_alt(forest),
        )
    if data.card.get("calibration"):
        out["calibration"] = embed(
            lambda ax: figures.plot_calibration_table(data.card["calibration"], ax=ax),
            (4.8, 4.0),
            alt.calibration_alt(data.card["calibration"]),
        )
    if data.card.get("lift"):
        out["lift"] = embed(
            lambda ax: figures.plot_lift_table(data.card["lift"], ax=ax),
            (4.8, 4.0),
            alt.lift_alt(data.card["lift"]),
        )
    return out
