"""The ranking pass's vectorised formatting writes what the per-cell code it replaced wrote:
``to_csv``'s bytes, ``format``'s rounding, the same formula escaping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_predict.data.files import neutralise_formulas
from crm_predict.scoring._csvtext import csv_bytes
from crm_predict.scoring.layout import rounded

MIXED = pd.DataFrame(
    {
        "text": ["a", "b,c", 'q"x', "l\nm", "r\rs", "", None, "é ü", " x", "t\tb"],
        "float": [0.5, np.nan, -0.0, 0.0, 1e-5, 1e20, np.inf, -np.inf, 41.0, 1 / 3],
        "int": np.arange(10),
        "bool": [True, False] * 5,
        "object": [1, 1.0, True, np.float64(0.5), None, np.nan, "x", {"a": 1}, pd.NA, 2.5],
        "str": pd.array(["a", None, "b,", "", "x", "y", "z", "w", "v", "u"], dtype="str"),
        "Int64": pd.array([1, None, 3, 4, 5, 6, 7, 8, 9, 10], dtype="Int64"),
        "float32": np.float32(np.random.default_rng(0).random(10)),
    }
)


def _to_csv(frame: pd.DataFrame, header: bool = True, bom: bool = False) -> bytes:
    return frame.to_csv(index=False, header=header).encode("utf-8-sig" if bom else "utf-8")


@pytest.mark.parametrize(
    "frame",
    [
        MIXED,
        MIXED.iloc[:0],
        MIXED[["text"]],  # one column: an empty field is written ""
        MIXED[["object"]],
        MIXED.assign(when=pd.Timestamp("2024-01-03")),  # dates: pandas writes them itself
        pd.DataFrame({"a,b": [1], "": [2]}),
        pd.DataFrame({"": ["", "x"]}),
    ],
)
@pytest.mark.parametrize(("header", "bom"), [(True, False), (False, False), (True, True)])
def test_csv_bytes_are_what_to_csv_writes(frame, header, bom):
    assert csv_bytes(frame, header=header, bom=bom) == _to_csv(frame, header, bom)


def test_rounding_is_format_s_on_every_value():
    rng = np.random.default_rng(1)
    values = np.concatenate(
        [
            rng.random(200_000),
            rng.normal(0, 100, 100_000),
            np.arange(-5000, 5000) / 10_000,  # exact ties and near-ties at 1 to 3 decimals
            rng.normal(0, 1e12, 100),
            [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-300, 2.5, 0.125, 0.0005, -0.0005],
        ]
    )
    frame = pd.DataFrame({"p_convert": values, "expected_days": values})
    got = rounded(frame)
    for col, digits in (("p_convert", 3), ("expected_days", 1)):
        want = np.array([float(f"{v:.{digits}f}") for v in values.tolist()])
        have = got[col].to_numpy()
        assert np.array_equal(want, have, equal_nan=True)
        assert np.array_equal(np.signbit(want), np.signbit(have))


def test_formula_escaping_reads_text_cells_only():
    frame = pd.DataFrame(
        {
            "text": ["=1+1", "-5", "@SUM(A1)", "ok", None, "+3.5e2", "-x", "\tx", "-5\n"],
            "mixed": ["=a", 3, -4.0, None, "+", "ok", "@", "1", "-1"],
            "str": pd.array(["=a", None, "b", "-", "x", "y", "z", "w", "v"], dtype="str"),
        }
    )
    got = neutralise_formulas(frame)
    assert got["text"].fillna("NA").tolist() == [
        "'=1+1", "-5", "'@SUM(A1)", "ok", "NA", "+3.5e2", "'-x", "'\tx", "-5\n",
    ]  # fmt: skip
    assert got["mixed"].tolist() == ["'=a", 3, -4.0, None, "'+", "ok", "'@", "1", "-1"]
    assert got["str"].fillna("NA").tolist()[:4] == ["'=a", "NA", "b", "'-"]
    plain = pd.DataFrame({"a": ["x", "y"], "n": [-1.0, 2.0]})
    assert neutralise_formulas(plain) is plain


def test_a_reason_value_column_with_no_value_is_left_blank():
    frame = pd.DataFrame({"reason_for_1_field": ["", ""], "reason_for_1_value": [None, np.nan]})
    assert rounded(frame)["reason_for_1_value"].isna().all()
