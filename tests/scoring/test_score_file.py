"""The score file people open: rank order, rounded numbers, points, BOM, workbook, display."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_predict.data.synthetic.leads import make_leads
from crm_predict.exceptions import CRMPredictError
from crm_predict.scoring.batch import rejected_path, score_leads
from crm_predict.scoring.layout import rounded

AS_OF = "2025-01-01"
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def bundle(leads_model):
    return leads_model.models["gbm"].bundle


@pytest.fixture(scope="module")
def leads(tmp_path_factory) -> Path:
    frame = make_leads(3000, 7).leads
    frame = frame[frame["status"] == "open"].reset_index(drop=True)
    frame.insert(1, "name", [f"Kai Müller {i}" for i in range(len(frame))])
    frame.insert(2, "company", "Bäckerei Süß GmbH")
    path = tmp_path_factory.mktemp("leads") / "open_leads.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def scored(bundle, leads, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scored") / "scored.csv"
    score_leads(bundle, out, as_of=AS_OF, source=leads, chunksize=97)
    return out


def _decimals(values: pd.Series) -> int:
    text = values.dropna().map(repr)
    return max((len(t.split(".")[1]) if "." in t else 0) for t in text)


def test_rows_are_in_rank_order_across_chunks(scored, leads):
    frame = pd.read_csv(scored)
    assert frame["rank"].tolist() == list(range(1, len(pd.read_csv(leads)) + 1))
    assert frame["p_convert"].is_monotonic_decreasing
    assert frame["percentile"].iloc[0] == 100.0


def test_parquet_and_excel_outputs_are_in_rank_order_too(bundle, leads, tmp_path):
    for name in ("scored.parquet", "scored.xlsx"):
        out = tmp_path / name
        score_leads(bundle, out, as_of=AS_OF, source=leads, chunksize=97)
        frame = pd.read_parquet(out) if name.endswith("parquet") else pd.read_excel(out)
        assert frame["rank"].tolist() == list(range(1, len(frame) + 1)), name


def test_ties_keep_input_order(bundle, leads, tmp_path):
    frame = pd.read_csv(leads).head(5)
    same = pd.concat([frame.head(1)] * 4, ignore_index=True)
    same["lead_id"] = ["T4", "T1", "T3", "T2"]
    path = tmp_path / "ties.csv"
    same.to_csv(path, index=False)
    out = tmp_path / "scored.csv"
    score_leads(bundle, out, as_of=AS_OF, source=path, chunksize=3)
    assert pd.read_csv(out)["lead_id"].tolist() == ["T4", "T1", "T3", "T2"]


def test_numbers_are_rounded_for_people(scored):
    frame = pd.read_csv(scored)
    probabilities = [c for c in frame.columns if c.startswith("p_")]
    days = [c for c in frame.columns if c.endswith("_days")]
    points = [c for c in frame.columns if c.startswith("reason_") and c.endswith("_points")]
    assert probabilities and points  # days: the timing model's, in tests/explain/test_reasons
    assert all(_decimals(frame[c]) <= 3 for c in probabilities)
    assert all(_decimals(frame[c]) <= 1 for c in days + points)


def test_rounding_rules_by_column():
    frame = pd.DataFrame(
        {
            "p_convert_30d": [0.123456],
            "expected_days": [41.26],
            "reason_for_1_points": [4.234],
            "percentile": [99.876],
            "clv": [1234.5678],
        }
    )
    got = rounded(frame).iloc[0].to_dict()
    assert got == {
        "p_convert_30d": 0.123,
        "expected_days": 41.3,
        "reason_for_1_points": 4.2,
        "percentile": 99.876,
        "clv": 1234.5678,
    }


def test_reason_values_read_as_people_write_them(scored, bundle):
    frame = pd.read_csv(scored, dtype=str, keep_default_na=False)
    text_fields = set(bundle.pipeline[0].categorical)
    value_columns = [c for c in frame.columns if re.fullmatch(r"reason_\w+_\d+_value", c)]
    fields = frame[[c.removesuffix("_value") + "_field" for c in value_columns]].to_numpy()
    values = frame[value_columns].to_numpy()
    number = pd.to_numeric(pd.Series(values.ravel()), errors="coerce").notna().to_numpy()
    numeric = (fields != "") & ~np.isin(fields, list(text_fields))
    shown = values[numeric & number.reshape(values.shape)]  # not dates, not "not recorded"
    assert len(shown) and (values[fields == ""] == "").all()
    # Whole numbers as integers ("1190", never "1190.0"); others at most 2 decimals at or
    # above 1, 3 significant digits below.
    assert not [v for v in shown if re.fullmatch(r"-?\d+\.0*", v)]
    assert any(re.fullmatch(r"\d+", v) for v in shown)
    for v in shown:
        decimals = v.split(".")[1] if "." in v else ""
        if abs(float(v)) >= 1:
            assert len(decimals) <= 2, v
        elif decimals:
            assert len(decimals.lstrip("0")) <= 3, v
    # Text fields keep their value exactly as the model read it (a yes/no flag included).
    text = values[(fields != "") & ~numeric]
    assert set(text) & {"True", "False", "referral", "webinar"}


def test_a_text_value_that_looks_like_a_number_is_not_reformatted():
    frame = pd.DataFrame(
        {
            "reason_for_1_field": ["employees", "version", "employees", "owner", ""],
            "reason_for_1_value": ["1190.0", "2.10", "0.12916666666666643", "007", ""],
        }
    )
    got = rounded(frame, text_fields=["version", "owner"])["reason_for_1_value"].tolist()
    assert got == ["1190", "2.10", "0.129", "007", ""]


def test_reason_strengths_are_percentage_points_as_the_text_says(scored, bundle):
    frame = pd.read_csv(scored, keep_default_na=False, na_values=[""])
    assert not [c for c in frame.columns if c.endswith("_contribution")]
    given = frame["reason_for_1"].notna()
    assert given.any()
    for text, points in zip(
        frame.loc[given, "reason_for_1"], frame.loc[given, "reason_for_1_points"], strict=True
    ):
        said = float(re.search(r"\+(\d+\.\d) pts", text).group(1))
        assert abs(said - points) < 0.1 + 1e-9, text
    assert (frame.loc[given, "reason_for_1_points"] >= bundle.config.reason_min_points).all()


def test_csv_starts_with_a_bom_by_default_and_reads_back_as_utf8(scored):
    raw = scored.read_bytes()
    assert raw.startswith(BOM)
    assert "Kai Müller" in raw[len(BOM) :].decode("utf-8")
    assert pd.read_csv(scored).columns[0] == "lead_id"


def test_excel_bom_off_writes_plain_utf8(bundle, leads, tmp_path):
    frame = pd.read_csv(leads).head(10).astype({"employees": object})
    frame.loc[0, "employees"] = "lots"
    path = tmp_path / "leads.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "scored.csv"
    score_leads(bundle, out, as_of=AS_OF, source=path, excel_bom=False)
    assert out.read_bytes().startswith(b"lead_id,")
    assert rejected_path(out).read_bytes().startswith(b"lead_id,")
    score_leads(bundle, out, as_of=AS_OF, source=path)
    assert rejected_path(out).read_bytes().startswith(BOM)


def test_xlsx_is_a_workbook_with_a_frozen_header_and_percent_probabilities(bundle, leads, tmp_path):
    from openpyxl import load_workbook

    out = tmp_path / "scored.xlsx"
    score_leads(bundle, out, as_of=AS_OF, source=leads)
    sheet = load_workbook(out).active
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header[0] == "lead_id" and sheet["A1"].font.bold
    column = header.index("p_convert") + 1
    cell = sheet.cell(row=2, column=column)
    assert cell.number_format == "0.0%"
    assert 0 < cell.value < 1 and round(cell.value, 3) == cell.value
    grade = sheet.cell(row=2, column=header.index("grade") + 1)
    assert grade.number_format == "General"


def test_display_columns_are_carried_unchanged_after_the_id(bundle, leads, tmp_path):
    shown = dataclasses.replace(
        bundle, config=bundle.config.model_copy(update={"display": ["name", "company", "owner"]})
    )
    out = tmp_path / "scored.csv"
    score_leads(shown, out, as_of=AS_OF, source=leads, chunksize=97)
    frame = pd.read_csv(out)
    assert frame.columns[:5].tolist() == ["lead_id", "name", "company", "owner", "p_convert"]
    given = pd.read_csv(leads).set_index("lead_id")
    for col in ("name", "company", "owner"):
        expected = given.loc[frame["lead_id"], col].to_numpy()
        np.testing.assert_array_equal(frame[col].to_numpy(), expected)


def test_a_display_column_missing_from_the_list_is_a_warning_and_blank(bundle, leads, tmp_path):
    from crm_predict.exceptions import InputWarning

    shown = dataclasses.replace(
        bundle, config=bundle.config.model_copy(update={"display": ["phone"]})
    )
    out = tmp_path / "scored.csv"
    with pytest.warns(InputWarning, match=r"'phone' \(display\)"):
        score_leads(shown, out, as_of=AS_OF, source=leads)
    assert pd.read_csv(out)["phone"].isna().all()


@pytest.mark.filterwarnings("ignore:column 'grade' \\(display\\) is missing")
def test_a_display_column_may_not_shadow_a_score_column(bundle, leads, tmp_path):
    shown = dataclasses.replace(
        bundle, config=bundle.config.model_copy(update={"display": ["grade"]})
    )
    with pytest.raises(CRMPredictError, match="display: 'grade'"):
        score_leads(shown, tmp_path / "scored.csv", as_of=AS_OF, source=leads)
