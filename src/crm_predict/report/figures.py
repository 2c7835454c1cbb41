"""The report's charts: each draws on a given Axes (or a new Figure) and returns the Axes.

They plot data the report has already assembled (the model card's tables, per-field
contributions, the Bayesian segment table); nothing here computes a model. No pyplot: a
:class:`~matplotlib.figure.Figure` is rendered with the Agg canvas by :func:`png_base64`.
Every text that may hold a CRM value is drawn with ``parse_math=False``, so a ``$`` in a
company or owner name is shown as typed rather than read as mathtext.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from crm_predict.explain.reasons import label_of, strength, value_text

UP, DOWN, MAIN, MUTED = "#1a7f4b", "#c0392b", "#2457a6", "#9aa3ad"
START = "Starting point"  # the model's score before any field is known
SECOND = "#e69f00"  # the Bayesian model beside the main one (colour-blind safe)
_VALUE_CMAP = LinearSegmentedColormap.from_list("crm_value", ["#2f6fd0", "#b8b8d0", "#d63b3b"])
_PERCENT = PercentFormatter(xmax=1.0, decimals=0)


def png_base64(fig: Figure, dpi: int = 144) -> str:
    """Render a Figure to PNG with the Agg canvas and return it base64-encoded.

    Examples
    --------
    >>> fig = Figure(figsize=(1, 1))
    >>> _ = fig.subplots().plot([0, 1])
    >>> png_base64(fig)[:8]
    'iVBORw0K'
    """
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    # No Software tag: the PNG then holds nothing but the picture.
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _axes(ax: Axes | None, size: tuple[float, float] = (6.4, 4.0)) -> Axes:
    return Figure(figsize=size, layout="constrained").subplots() if ax is None else ax


def _tidy(ax: Axes) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)


def _labels(ax: Axes, labels: Sequence[str]) -> None:
    ax.set_yticks(range(len(labels)), labels=list(labels), parse_math=False)


def plot_drivers(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Bar chart of mean absolute contribution per CRM field, largest on top.

    Parameters
    ----------
    table : DataFrame
        ``label`` and ``mean_abs_points`` (probability units) per field; with a
        ``bayes_mean_abs_points`` column, the Bayesian model's bar is drawn beside each.
    ax : Axes, optional
        Where to draw; a new Figure is made when omitted.

    Returns
    -------
    Axes

    Examples
    --------
    >>> t = pd.DataFrame({"label": ["Source", "Region"], "mean_abs_points": [0.08, 0.02]})
    >>> [float(b.get_width()) for b in plot_drivers(t).patches]
    [8.0, 2.0]
    """
    ax = _axes(ax)
    values = table["mean_abs_points"].to_numpy(dtype=float) * 100
    labels = table["label"].astype(str).tolist()
    rows = np.arange(len(values), dtype=float)
    paired = "bayes_mean_abs_points" in table.columns
    height = 0.38 if paired else 0.65
    shift = height / 2 if paired else 0.0
    ax.barh(rows - shift, values, color=MAIN, height=height, label="LightGBM (SHAP)")
    longest = values.max() if len(values) else 0.0
    if paired:
        other = table["bayes_mean_abs_points"].to_numpy(dtype=float) * 100
        ax.barh(rows + shift, np.nan_to_num(other), color=SECOND, height=height, label="Bayesian")
        longest = max(longest, np.nanmax(other) if np.isfinite(other).any() else 0.0)
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    _labels(ax, labels)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.text(v, i - shift, f" {v:.1f}", va="center", fontsize=8, color="#333")
    ax.set_xlabel("Average effect on a lead's score (percentage points, either way)")
    ax.set_xlim(0, max(longest * 1.15, 0.1) if len(values) else 1)
    _tidy(ax)
    return ax


def plot_beeswarm(
    points: np.ndarray,
    labels: Sequence[str],
    colour: np.ndarray,
    ax: Axes | None = None,
    seed: int = 0,
) -> Axes:
    """One dot per lead and field: how far the field moved that lead's score.

    Dots spread vertically where many leads share an effect, as in SHAP's beeswarm; colour
    is the field's value (blue low, red high) for numbers and grey for categories.

    Parameters
    ----------
    points : ndarray, shape (n_leads, n_fields)
        Contributions in probability units.
    labels : sequence of str
        One per column, top row first.
    colour : ndarray, shape (n_leads, n_fields)
        The value's rank in [0, 1], NaN for categories and missing values.
    ax : Axes, optional
        Where to draw.
    seed : int
        Seed of the vertical jitter (the same data give the same picture).

    Returns
    -------
    Axes

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> pts = rng.normal(0, 0.05, (200, 2))
    >>> ax = plot_beeswarm(pts, ["Source", "Employees"], np.full((200, 2), np.nan))
    >>> len(ax.collections)
    2
    """
    ax = _axes(ax)
    rng = np.random.default_rng(seed)
    x_all = np.asarray(points, dtype=float) * 100
    for j in range(x_all.shape[1]):
        x = x_all[:, j]
        counts, edges = np.histogram(x, bins=60)
        where = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(counts) - 1)
        density = counts[where] / max(counts.max(), 1)
        y = j + rng.uniform(-1, 1, len(x)) * 0.38 * np.sqrt(density)
        c = colour[:, j]
        rgba = np.where(
            np.isnan(c)[:, None], np.array([0.6, 0.62, 0.65, 1.0]), _VALUE_CMAP(np.nan_to_num(c))
        )
        ax.scatter(x, y, s=5, c=rgba, alpha=0.7, linewidths=0, rasterized=True)
    _labels(ax, labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.axvline(0, color="#555", linewidth=0.8)
    ax.set_xlabel("Effect on the lead's score (percentage points)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.0f}" if v else "0"))
    _tidy(ax)
    ax.figure.colorbar(
        _value_mappable(), ax=ax, ticks=[0, 1], shrink=0.9, aspect=40, pad=0.01
    ).set_ticklabels(["low value", "high value"], fontsize=8)
    return ax


def _value_mappable():
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    return ScalarMappable(norm=Normalize(0, 1), cmap=_VALUE_CMAP)


def plot_waterfall(
    steps: Sequence[tuple[str, float]], base: float, score: float, ax: Axes | None = None
) -> Axes:
    """Waterfall of one lead: base rate, then each field's push up or down, then the score.

    Parameters
    ----------
    steps : sequence of (label, points)
        Field label and contribution in probability units, in display order.
    base, score : float
        Probability at the start (the average lead) and the lead's score.
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = plot_waterfall([("Source = referral", 0.12), ("Region = EMEA", -0.03)], 0.2, 0.29)
    >>> [t.get_text() for t in ax.get_yticklabels()][0]
    'Starting point'
    """
    ax = _axes(ax)
    rows = [START, *(label for label, _ in steps), "This lead's score"]
    level = base
    ax.barh(0, base, color=MUTED, height=0.6)
    ax.text(base, 0, f" {base:.0%}", va="center", fontsize=8)
    for i, (_, points) in enumerate(steps, start=1):
        colour = UP if points >= 0 else DOWN
        ax.barh(i, points, left=level, color=colour, height=0.6)
        ax.plot([level, level], [i - 1.3, i + 0.3], color="#bbb", linewidth=0.6, zorder=0)
        end = level + points
        ax.text(max(level, end), i, f" {strength(points)}", va="center", fontsize=8, color=colour)
        level = end
    last = len(rows) - 1
    ax.barh(last, score, color=MAIN, height=0.6)
    ax.text(score, last, f" {score:.0%}", va="center", fontsize=8, fontweight="bold")
    _labels(ax, rows)
    ax.invert_yaxis()
    ax.set_xlim(0, min(1.0, max(score, base, *_running(base, steps)) * 1.18 + 0.02))
    ax.xaxis.set_major_formatter(_PERCENT)
    ax.set_xlabel("Chance of converting")
    _tidy(ax)
    return ax


def _running(base: float, steps: Sequence[tuple[str, float]]) -> list[float]:
    return list(base + np.cumsum([p for _, p in steps])) if steps else [base]


def plot_calibration_table(records: Sequence[Mapping], ax: Axes | None = None) -> Axes:
    """Reliability diagram from a calibration table (the model card's ``calibration``).

    Parameters
    ----------
    records : sequence of mapping
        Rows with ``n``, ``mean_predicted`` and ``observed_rate`` (see
        :func:`crm_predict.evaluate.metrics.calibration_table`).
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    Axes

    Examples
    --------
    >>> rows = [{"n": 50, "mean_predicted": 0.1, "observed_rate": 0.12}]
    >>> plot_calibration_table(rows).lines[-1].get_label()
    'this model'
    """
    ax = _axes(ax, (4.6, 4.0))
    table = pd.DataFrame(list(records))
    ax.plot([0, 1], [0, 1], linestyle="--", color=MUTED, label="perfectly calibrated")
    if len(table):
        size = 20 + 180 * table["n"] / table["n"].max()
        ax.scatter(table["mean_predicted"], table["observed_rate"], s=size, color=MAIN, zorder=3)
        ax.plot(table["mean_predicted"], table["observed_rate"], color=MAIN, label="this model")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.xaxis.set_major_formatter(_PERCENT)
    ax.yaxis.set_major_formatter(_PERCENT)
    ax.set_xlabel("Predicted chance (holdout leads, grouped)")
    ax.set_ylabel("Share that actually converted")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    _tidy(ax)
    return ax


def plot_lift_table(records: Sequence[Mapping], ax: Axes | None = None) -> Axes:
    """Conversion rate per tenth of the ranked list, against the average (the card's ``lift``).

    Parameters
    ----------
    records : sequence of mapping
        Rows with ``group``, ``n``, ``positives``, ``rate`` and ``lift`` (see
        :func:`crm_predict.evaluate.metrics.lift_table`).
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    Axes

    Examples
    --------
    >>> rows = [{"group": 1, "n": 10, "positives": 6, "rate": 0.6, "lift": 2.0},
    ...         {"group": 2, "n": 10, "positives": 0, "rate": 0.0, "lift": 0.0}]
    >>> len(plot_lift_table(rows).patches)
    2
    """
    ax = _axes(ax, (4.6, 4.0))
    table = pd.DataFrame(list(records))
    overall = table["positives"].sum() / max(table["n"].sum(), 1)
    groups = len(table)
    colours = [MAIN if lift >= 1 else MUTED for lift in table["lift"].fillna(0)]
    ax.bar(table["group"], table["rate"], color=colours, width=0.7)
    ax.axhline(overall, color="#555", linestyle="--", linewidth=0.9)
    ax.text(
        groups + 0.45, overall, f"all test leads {overall:.0%}", fontsize=8, va="bottom", ha="right"
    )
    for g, rate, lift in zip(table["group"], table["rate"], table["lift"], strict=True):
        if np.isfinite(lift):
            ax.text(g, rate, f"{lift:.1f}×", ha="center", va="bottom", fontsize=7)
    step = 100 // groups if groups else 10
    ax.set_xticks(
        list(table["group"]), labels=[f"{(g - 1) * step}–{g * step}%" for g in table["group"]]
    )
    ax.tick_params(axis="x", labelrotation=45)
    ax.yaxis.set_major_formatter(_PERCENT)
    ax.set_xlabel("Leads ranked by score (top first)")
    ax.set_ylabel("Share that converted")
    _tidy(ax)
    return ax


def plot_segment_forest(
    table: pd.DataFrame, overall: float | None = None, ax: Axes | None = None
) -> Axes:
    """Forest plot of the Bayesian model's conversion rate per segment level, with intervals.

    Levels flagged ``thin_data`` (too few leads for a narrow interval) are drawn hollow and
    grey and labelled "(thin data)".

    Parameters
    ----------
    table : DataFrame
        ``field, level, rate, rate_low, rate_high, thin_data`` (as from the model's
        ``segment_table()``), in display order.
    overall : float, optional
        Overall conversion rate, drawn as a reference line.
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    Axes

    Examples
    --------
    >>> t = pd.DataFrame({"field": ["source"] * 2, "level": ["web", "podcast"],
    ...                   "rate": [0.2, 0.4], "rate_low": [0.18, 0.1],
    ...                   "rate_high": [0.22, 0.7], "thin_data": [False, True]})
    >>> [t.get_text() for t in plot_segment_forest(t, overall=0.21).get_yticklabels()]
    ['Source: web', 'Source: podcast (thin data)']
    """
    ax = _axes(ax)
    labels = []
    for i, row in enumerate(table.itertuples(index=False)):
        thin = bool(row.thin_data)
        colour = MUTED if thin else MAIN
        ax.plot([row.rate_low, row.rate_high], [i, i], color=colour, linewidth=1.6)
        ax.plot(
            row.rate,
            i,
            marker="o",
            markersize=5,
            color=colour,
            markerfacecolor="white" if thin else colour,
        )
        shown = f"{label_of(str(row.field))}: {value_text(row.level)}"
        labels.append(shown + (" (thin data)" if thin else ""))
    if overall is not None:
        ax.axvline(overall, color="#555", linestyle="--", linewidth=0.9)
    _labels(ax, labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.xaxis.set_major_formatter(_PERCENT)
    ax.set_xlabel("Conversion rate, other fields at average (90% interval)")
    ax.grid(axis="x", color="#eee")
    _tidy(ax)
    return ax


def plot_conversion_curves(curves: Sequence[Mapping], ax: Axes | None = None) -> Axes:
    """Cumulative share converted by days since creation, one line per segment level.

    Solid lines are the time-to-convert model's average prediction for the level's leads;
    dashed lines (same colour) the observed Aalen–Johansen estimate, where there is one.

    Parameters
    ----------
    curves : sequence of mappings
        Records of one field: ``level``, ``n``, ``days``, ``predicted`` and ``observed``
        (a list with None where unknown, or None).
    ax : Axes, optional
        Where to draw; a new Figure is made when omitted.

    Returns
    -------
    Axes

    Examples
    --------
    >>> c = [{"level": "web", "n": 10, "days": [0, 30], "predicted": [0, 0.2],
    ...       "observed": [0, 0.25]}]
    >>> len(plot_conversion_curves(c).lines)
    2
    """
    ax = _axes(ax)
    colours = [MAIN, UP, DOWN, "#8e44ad", "#d68910", "#17a589", MUTED]
    for i, curve in enumerate(curves):
        colour = colours[i % len(colours)]
        days = np.asarray(curve["days"], dtype=float)
        ax.plot(
            days,
            np.asarray(curve["predicted"], dtype=float),
            color=colour,
            lw=1.8,
            label=f"{curve['level']} ({int(curve['n']):,})",
        )
        if curve.get("observed") is not None:
            observed = np.array([np.nan if v is None else v for v in curve["observed"]], float)
            ax.plot(days, observed, color=colour, lw=1.0, ls="--")
    ax.yaxis.set_major_formatter(_PERCENT)
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.set_xlabel("Days since the lead was created")
    ax.set_ylabel("Converted so far")
    legend = ax.legend(fontsize=8, frameon=False, loc="upper left")
    for text in legend.get_texts():
        text.set_parse_math(False)
    _tidy(ax)
    return ax
