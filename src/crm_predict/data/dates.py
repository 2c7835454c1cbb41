"""Dates read per column, not per value.

A CRM export writes a column's dates one way: ISO (``2016-11-05``), day first
(``05/11/2016``) or month first (``11/05/2016``). Guessing value by value swaps days and
months silently where both read as a date, so :func:`parse_dates` settles one format per
column: the one declared in ``time.date_format``, else the only one every value fits. A
column whose values fit different formats, or only formats that disagree (every day 12 or
less), is an error naming the column, the formats seen and example rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

ISO, DAYFIRST, MONTHFIRST, EXCEL = "iso", "dayfirst", "monthfirst", "excel"
FAMILIES = (ISO, DAYFIRST, MONTHFIRST, EXCEL)
"""Values of ``time.date_format`` that name a family instead of a strftime pattern."""
_NAMES = {ISO: "ISO (2016-11-05)", DAYFIRST: "day/month/year", MONTHFIRST: "month/day/year"}
EARLIEST = pd.Timestamp("1990-01-01")
"""Dates before this are typos or placeholders (``1900-01-01``), not CRM records."""
MARGIN = pd.Timedelta(days=366)
"""How far after ``as_of`` a date may lie before it is called a typo."""
_SERIAL = r"\d{4,6}(\.\d+)?"
_SHAPE = (
    r"^\d{1,2}(?P<sep>[/.\-])\d{1,2}[/.\-](?P<year>\d{4}|\d{2})"
    r"(?P<clock> \d{1,2}:\d{2}(?::\d{2})?(?: ?[AaPp][Mm])?)?$"
)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


@dataclass
class ParsedDates:
    """One column's dates.

    Attributes
    ----------
    values : Series
        Naive ``datetime64[ns]``; NaT where blank or bad.
    bad : Series of str
        Per row, why the value is not a usable date ('' when it is, or is blank).
    fatal : list of str
        Problems with the whole column (ambiguous or mixed formats, Excel serials).
    family : str or None
        The format read.
    """

    values: pd.Series
    bad: pd.Series
    fatal: list[str] = field(default_factory=list)
    family: str | None = None


def _naive(s: pd.Series) -> pd.Series:
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert(None)
    return s.astype("datetime64[ns]")


def _by_family(text: pd.Series, family: str) -> pd.Series:
    """Parse numeric dates day or month first: one strftime pattern per shape of value
    (separator, year digits, time of day), so a chunk costs a few parses, not one a value."""
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    parts = text.str.extract(_SHAPE)
    known = parts["sep"].notna()
    if not known.any():
        return out
    first, second = ("%d", "%m") if family == DAYFIRST else ("%m", "%d")
    year = parts["year"].str.len().map({2: "%y", 4: "%Y"})
    clock = parts["clock"].fillna("").map(_clock_format)
    pattern = first + parts["sep"] + second + parts["sep"] + year + clock
    for fmt, rows in pattern[known].groupby(pattern[known]).groups.items():
        out[rows] = pd.to_datetime(text[rows], format=fmt, errors="coerce")
    return out


def _clock_format(clock: str) -> str:
    if not clock:
        return ""
    upper = clock.upper()
    twelve = upper.endswith("M")
    fmt = " %I:%M" if twelve else " %H:%M"
    if clock.count(":") == 2:
        fmt += ":%S"
    if twelve:
        fmt += " %p" if upper.endswith((" AM", " PM")) else "%p"
    return fmt


def _iso(text: pd.Series) -> pd.Series:
    looks = text.str.match(r"^\d{4}-\d{1,2}-\d{1,2}")
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if looks.any():
        got = pd.to_datetime(text[looks], format="ISO8601", errors="coerce", utc=True)
        out = out.mask(looks, _naive(got))
    return out


def _words(text: pd.Series) -> pd.Series:
    """Dates with a month name ("5 Nov 2016", "Nov 5, 2016"): unambiguous per value."""
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    named = text.str.contains(r"[A-Za-z]{3}", regex=True)
    if named.any():
        got = pd.to_datetime(text[named], format="mixed", errors="coerce", utc=True)
        out = out.mask(named, _naive(got))
    return out


def _examples(ids: pd.Series, text: pd.Series, mask: pd.Series, n: int = 3) -> str:
    return ", ".join(f"{i} ({v!r})" for i, v in zip(ids[mask][:n], text[mask][:n], strict=True))


def parse_dates(
    raw: pd.Series, ids: pd.Series, column: str, key: str, fmt: str | None = None
) -> ParsedDates:
    """Parse one column of dates in a single format.

    Parameters
    ----------
    raw : Series
        Text as read (missing where blank), or datetimes (from Parquet, Excel).
    ids : Series
        Record ids of the same rows, for messages.
    column, key : str
        The column and the config key that asked for it, for messages.
    fmt : str, optional
        ``time.date_format``: ``iso``, ``dayfirst``, ``monthfirst``, ``excel`` (serial day
        numbers) or a strftime pattern; inferred from the values when None.

    Returns
    -------
    ParsedDates

    Examples
    --------
    >>> ids = pd.Series(["a", "b"])
    >>> parse_dates(pd.Series(["25/12/2023", "05/11/2016"]), ids, "d", "k").values.tolist()
    [Timestamp('2023-12-25 00:00:00'), Timestamp('2016-11-05 00:00:00')]
    >>> parse_dates(pd.Series(["05/11/2016", "2016-11-05"]), ids, "d", "k").fatal[0][:40]
    "k 'd': dates in more than one format: IS"
    """
    bad = pd.Series("", index=raw.index, dtype=object)
    if pd.api.types.is_datetime64_any_dtype(raw):
        values = _naive(raw) if raw.dt.tz is not None else raw.astype("datetime64[ns]")
        return ParsedDates(values, bad, family=ISO)
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        raw = raw.astype("object").where(raw.isna(), raw.astype(str))
    text = raw.astype("object").where(raw.isna(), raw.astype(str).str.strip())
    text = text.mask(text == "")
    present = text.notna()
    t = text[present].astype(str)
    values = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    if t.empty:
        return ParsedDates(values, bad)
    serial = t.str.fullmatch(_SERIAL)
    fatal: list[str] = []
    family = fmt
    if fmt == EXCEL:
        days = pd.to_numeric(t.where(serial), errors="coerce")
        got = _EXCEL_EPOCH + pd.to_timedelta(days, unit="D")
    elif fmt in (DAYFIRST, MONTHFIRST):
        got = _by_family(t, fmt).fillna(_iso(t)).fillna(_words(t))
    elif fmt == ISO:
        got = _iso(t).fillna(_words(t))
    elif fmt is not None:
        got = pd.to_datetime(t, format=fmt, errors="coerce")
    else:
        got, family, fatal = _infer(t, ids[present], column, key)
    if fmt != EXCEL and serial.any() and not fatal:
        fatal.append(
            f"{key} '{column}': {int(serial.sum()):,} values look like Excel serial day "
            f"numbers ({_examples(ids[present], t, serial)}); export the column as dates, "
            f"or set time.date_format: excel"
        )
    values[present] = got.to_numpy()
    unread = present & values.isna()
    name = _NAMES.get(family or "", family or "a date")
    bad[unread] = [f"{column}: {v!r} is not a date ({name})" for v in text[unread]]
    return ParsedDates(values, bad, fatal, family)


def _infer(t: pd.Series, ids: pd.Series, column: str, key: str):
    iso = _iso(t)
    rest = t[iso.isna()]
    words = _words(rest).reindex(t.index)
    day = _by_family(rest, DAYFIRST).reindex(t.index)
    month = _by_family(rest, MONTHFIRST).reindex(t.index)
    only_day = day.notna() & month.isna()
    only_month = month.notna() & day.isna()
    either = day.notna() & month.notna() & (day != month)
    seen = {
        ISO: iso.notna(),
        DAYFIRST: only_day,
        MONTHFIRST: only_month,
    }
    seen = {k: m for k, m in seen.items() if m.any()}
    if len(seen) > 1:
        shown = "; ".join(f"{_NAMES[k]}: rows {_examples(ids, t, m)}" for k, m in seen.items())
        problem = (
            f"{key} '{column}': dates in more than one format: {shown}; export one "
            "format, or set time.date_format (iso, dayfirst, monthfirst or a pattern)"
        )
        return iso, None, [problem]
    family = next(iter(seen), None)
    if family in (DAYFIRST, MONTHFIRST):
        return (day if family == DAYFIRST else month).fillna(words), family, []
    if either.any() and family is None:
        problem = (
            f"{key} '{column}': dates like {_examples(ids, t, either)} read as day/month "
            "or month/day alike (no day above 12); set time.date_format: dayfirst or "
            "monthfirst (or --date-format)"
        )
        return day, None, [problem]
    if family == ISO and either.any():
        shown = _examples(ids, t, either)
        problem = (
            f"{key} '{column}': dates in more than one format: ISO and day/month or "
            f"month/day ({shown}); export one format, or set time.date_format"
        )
        return iso, None, [problem]
    got = iso.fillna(words).fillna(day.where(day == month))
    return got, family or ISO, []


def implausible(values: pd.Series, column: str, as_of: pd.Timestamp | None) -> pd.Series:
    """Per row, why a parsed date cannot be a CRM date ('' when it can).

    Before 1990, or more than a year after ``as_of``. Without ``as_of`` (training lets the
    data set it), after a year past the latest date but one in fifty, so that one typo
    (2071 for 2017) does not become the data's "today".

    Examples
    --------
    >>> d = pd.Series(pd.to_datetime(["1900-01-01", "2016-05-01", "2071-05-01"]))
    >>> implausible(d, "created", pd.Timestamp("2017-01-01")).tolist()[::2]
    ['created: 1900-01-01 is before 1990', 'created: 2071-05-01 is after as_of 2017-01-01']
    """
    out = pd.Series("", index=values.index, dtype=object)
    known = values.dropna()
    if known.empty:
        return out
    early = values < EARLIEST
    out[early] = [f"{column}: {v:%Y-%m-%d} is before 1990" for v in values[early]]
    if as_of is not None and not pd.isna(as_of):
        late = values > as_of + MARGIN
        cap = f"{as_of:%Y-%m-%d}"
        out[late] = [f"{column}: {v:%Y-%m-%d} is after as_of {cap}" for v in values[late]]
    else:
        ordered = known.sort_values()
        limit = ordered.iloc[int(0.98 * (len(ordered) - 1))] + MARGIN
        late = values > limit
        out[late] = [
            f"{column}: {v:%Y-%m-%d} is more than a year after the other dates"
            for v in values[late]
        ]
    return out
