"""The CRM data contract: turn raw tables into typed ones, or one error listing every problem.

Each check collects problems instead of stopping at the first, so a user fixing an export
sees everything wrong with it at once. Messages name the column, the config key that asked
for it, and the offending row ids.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from crm_predict.config import TaskConfig
from crm_predict.data.dates import implausible, parse_dates

POSITIVE, NEGATIVE, OPEN = "positive", "negative", "open"
_SHOW = 5


def _rows(ids: pd.Series) -> str:
    shown = ", ".join(str(v) for v in ids.iloc[:_SHOW])
    more = f" and {len(ids) - _SHOW:,} more" if len(ids) > _SHOW else ""
    return f"{shown}{more}"


def missing_column_problems(
    columns: Iterable[str], requests: Iterable[tuple[str, str]], table: str
) -> list[str]:
    """Return one problem per requested column that ``columns`` lacks.

    Parameters
    ----------
    columns : iterable of str
        Columns the table has.
    requests : iterable of (column, config key)
        What the config asks for.
    table : str
        Name of the table, for the message.

    Examples
    --------
    >>> missing_column_problems(["lead_id"], [("regoin", "features.categorical")], "leads")
    ["column 'regoin' is missing from leads (asked for by features.categorical)"]
    """
    have = list(columns)
    problems = []
    for col, key in requests:
        if col in have:
            continue
        close = difflib.get_close_matches(col, have, n=1, cutoff=0.75)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        problems.append(f"column '{col}' is missing from {table} (asked for by {key}){hint}")
    return list(dict.fromkeys(problems))


def clean_text(frame: pd.DataFrame, placeholders: Iterable[str]) -> pd.DataFrame:
    """Strip text cells and turn placeholder values ("Select", "N/A", "") into missing.

    Parameters
    ----------
    frame : DataFrame
        Raw table.
    placeholders : iterable of str
        Values that mean "not answered", compared after stripping whitespace.

    Returns
    -------
    DataFrame
        A copy with the same columns.
    """
    out = frame.copy()
    marks = set(placeholders)
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            text = s.astype("object").where(s.isna(), s.astype(str).str.strip())
            out[col] = text.mask(text.isin(marks))
    return out


def coerce_dates(
    frame: pd.DataFrame,
    columns: Iterable[tuple[str, str]],
    id_col: str,
    fmt: str | None,
    as_of: pd.Timestamp | None = None,
) -> list[str]:
    """Parse date columns in place, one format per column; return the problems.

    A problem names the column and config key: values in more than one format, values
    that read as day/month and month/day alike, Excel serial numbers, values that are not
    dates, and implausible dates (before 1990, after ``as_of``) with their row ids. See
    :mod:`crm_predict.data.dates`.
    """
    problems = []
    for col, key in columns:
        if col not in frame.columns:
            continue
        ids = frame[id_col] if id_col in frame.columns else pd.Series(frame.index + 1)
        raw = frame[col]
        parsed = parse_dates(raw, ids, col, key, fmt)
        frame[col] = parsed.values
        if parsed.fatal:
            problems += parsed.fatal
            continue
        bad = parsed.bad != ""
        if bad.any():
            examples = ", ".join(repr(v) for v in raw[bad].astype(str).unique()[:3])
            problems.append(
                f"{key} '{col}': {int(bad.sum()):,} values are not dates ({examples}); "
                f"rows {_rows(ids[bad])}"
            )
        odd = implausible(parsed.values, col, as_of)
        if (odd != "").any():
            hit = odd != ""
            problems.append(
                f"{key} '{col}': {int(hit.sum()):,} implausible dates "
                f"({'; '.join(odd[hit].unique()[:3])}); rows {_rows(ids[hit])}"
            )
    return problems


def to_dates(raw: pd.Series, fmt: str | None = None) -> pd.Series:
    """Parse ``raw`` into naive ``datetime64[ns]``; unparseable values become NaT.

    Values with a UTC offset are converted to UTC. Without ``fmt``, values that do not fit
    the format inferred from the first one ("2024-01-03" then "2024-01-04 10:30") are
    parsed one by one.

    Examples
    --------
    >>> to_dates(pd.Series(["2024-01-03", "2024-01-04 10:30", "soon"])).tolist()
    [Timestamp('2024-01-03 00:00:00'), Timestamp('2024-01-04 10:30:00'), NaT]
    """

    def naive(s: pd.Series) -> pd.Series:
        if s.dt.tz is not None:
            s = s.dt.tz_convert(None)
        return s.astype("datetime64[ns]")

    try:
        parsed = naive(pd.to_datetime(raw, errors="coerce", format=fmt))
    except ValueError:  # mixed UTC offsets, e.g. an export spanning a DST change
        parsed = naive(pd.to_datetime(raw, errors="coerce", format=fmt, utc=True))
    retry = raw.notna() & parsed.isna()
    if fmt is None and retry.any():
        again = pd.to_datetime(raw[retry], errors="coerce", format="mixed", utc=True)
        parsed = parsed.mask(retry, naive(again))
    return parsed


def coerce_numbers(
    frame: pd.DataFrame, columns: Iterable[tuple[str, str]], id_col: str
) -> list[str]:
    """Parse numeric columns in place; return a problem per column with unparseable values."""
    problems = []
    for col, key in columns:
        if col not in frame.columns:
            continue
        raw = frame[col]
        if pd.api.types.is_bool_dtype(raw):
            frame[col] = raw.astype(float)
            continue
        parsed, bad = to_numbers(raw)
        if bad.any():
            examples = ", ".join(repr(v) for v in raw[bad].astype(str).unique()[:3])
            problems.append(
                f"{key} '{col}': {int(bad.sum()):,} values are not numbers ({examples}); "
                f"rows {_rows(frame.loc[bad, id_col])}"
            )
        frame[col] = parsed.astype(float)
    return problems


def to_numbers(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse numbers; return them (NaN where blank or bad) and where a value was bad.

    ``inf`` and ``-inf`` count as bad: no CRM field is infinite, and they break models.

    Examples
    --------
    >>> values, bad = to_numbers(pd.Series(["3", None, "inf", "x"]))
    >>> values.tolist()[0], bad.tolist()
    (3.0, [False, False, True, True])
    """
    parsed = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = raw.notna() & ~np.isfinite(parsed)
    return parsed.mask(bad), bad


def blank_columns(frame: pd.DataFrame, columns: Iterable[tuple[str, str]]) -> list[str]:
    """A problem per requested column present in ``frame`` with no value at all."""
    return [
        f"{key} '{col}': every value is blank; fill the column in the export or remove it "
        f"from {key}"
        for col, key in dict.fromkeys(columns)
        if col in frame.columns and len(frame) and frame[col].isna().all()
    ]


def closed_before_created(frame: pd.DataFrame, config: TaskConfig) -> list[str]:
    """A warning when records close before they were created (clock or entry errors)."""
    created, closed = config.time.created, config.time.closed
    if not created or not closed or not {created, closed} <= set(frame.columns):
        return []
    early = (frame[closed] < frame[created]).fillna(False).astype(bool)
    if not early.any():
        return []
    return [
        f"warning: {int(early.sum()):,} records close before they were created "
        f"(time.closed '{closed}' < time.created '{created}'); rows "
        f"{_rows(frame.loc[early, config.id_column])}"
    ]


def as_text(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    """Store categorical columns as Python strings (or missing), whatever their raw dtype."""
    for col in columns:
        if col in frame.columns:
            s = frame[col]
            frame[col] = s.astype("object").where(s.isna(), s.astype(str))


def id_text(ids: pd.Series) -> pd.Series:
    """Ids as text (missing stays missing): ids are labels, never numbers.

    CSV and Excel ids are read as text already; a Parquet or SQL column of numbers becomes
    the digits it holds (``7.0`` from a float column with a blank is ``7``).

    Examples
    --------
    >>> id_text(pd.Series([7.0, None, 12.5])).tolist()
    ['7', None, '12.5']
    """
    if pd.api.types.is_float_dtype(ids):
        whole = ids.notna() & (ids == ids.round())
        text = ids.astype("object").where(ids.isna(), ids.astype(str))
        text = text.mask(whole, ids[whole].astype("int64").astype(str))
        return text.astype("object").where(ids.notna(), None)
    text = ids.astype("object")
    return text.where(ids.isna(), ids.astype(str).str.strip()).where(ids.notna(), None)


def id_problems(frame: pd.DataFrame, id_col: str) -> list[str]:
    """Return problems with the id column: missing ids and duplicated ids."""
    problems = []
    ids = frame[id_col]
    if ids.isna().any():
        problems.append(
            f"id_column '{id_col}': {int(ids.isna().sum()):,} rows have no id "
            f"(row numbers {_rows(pd.Series(np.flatnonzero(ids.isna()) + 1))})"
        )
    dup = ids[ids.duplicated(keep=False) & ids.notna()]
    if len(dup):
        counts = dup.value_counts()
        shown = ", ".join(f"{k} ×{v}" for k, v in counts.iloc[:_SHOW].items())
        problems.append(
            f"id_column '{id_col}': {len(counts):,} ids appear more than once ({shown})"
        )
    return problems


def outcome_of(frame: pd.DataFrame, config: TaskConfig) -> tuple[pd.Series, list[str]]:
    """Map the target column to ``positive`` / ``negative`` / ``open``.

    Returns
    -------
    outcome : Series
        One of the three labels per row (missing where unmapped).
    problems : list of str
        Unmapped values, and a target with a single class among closed rows.
    """
    t = config.target
    col = t.column
    raw = frame[col]
    text = raw.astype("object").where(raw.isna(), raw.astype(str))
    mapping = {v: POSITIVE for v in t.positive}
    mapping |= {v: NEGATIVE for v in t.negative}
    mapping |= {v: OPEN for v in t.open}
    outcome = text.map(mapping)
    problems = []
    blank = text.isna()
    if blank.any():
        problems.append(
            f"target.column '{col}': {int(blank.sum()):,} rows have no value (rows "
            f"{_rows(frame.loc[blank, config.id_column])}); fill them in, or drop the rows"
        )
    unmapped = text[outcome.isna() & ~blank]
    if len(unmapped):
        counts = unmapped.value_counts()
        shown = ", ".join(f"{k!r} ({v:,} rows)" for k, v in counts.iloc[:_SHOW].items())
        problems.append(
            f"target.column '{col}': values not listed under target.positive, "
            f"target.negative or target.open: {shown}"
        )
    classes = set(outcome.dropna()) - {OPEN}
    if len(frame) and classes != {POSITIVE, NEGATIVE}:
        have = ", ".join(sorted(classes)) or "none"
        problems.append(
            f"target.column '{col}': closed records need both classes to learn from, "
            f"found only: {have}"
        )
    return outcome, problems
