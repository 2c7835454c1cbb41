"""Saved models outlive the code layout: a model saved by release 0.1 loads and scores the same.

The fixture (``tests/fixtures/model_v0_1``, made by its ``make_fixture.py`` with the flat
0.1 layout) holds a lead model and its timing model as MLflow pyfunc folders, pickles that
name module paths such as ``crm_predict.bundle`` that no longer exist.
"""

from __future__ import annotations

import importlib
import io
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from crm_predict.scoring.bundle import ModelBundle, TimingBundle
from crm_predict.tracking import load_bundle

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "model_v0_1"


def _as_written(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as its CSV reads back (how the expected scores were stored)."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)))


@pytest.mark.parametrize(("name", "kind"), [("main", ModelBundle), ("timing", TimingBundle)])
def test_a_model_saved_by_the_flat_layout_scores_identically(name, kind):
    rows = pd.read_parquet(FIXTURE / "rows.parquet")
    model = mlflow.pyfunc.load_model(str(FIXTURE / name))
    bundle = model.unwrap_python_model().bundle
    assert type(bundle) is kind
    expected = pd.read_csv(FIXTURE / f"{name}_expected.csv")
    pd.testing.assert_frame_equal(_as_written(model.predict(rows)), expected)


def test_the_old_model_loads_through_the_library_loader_and_keeps_its_reasons():
    bundle, label = load_bundle(str(FIXTURE / "main"))
    assert label == str(FIXTURE / "main")
    rows = pd.read_parquet(FIXTURE / "rows.parquet").head(5)
    scored = bundle.score_rows(rows)
    assert scored["reason_for_1"].notna().any()
    assert scored["p_convert"].between(0, 1).all()


def test_old_module_paths_resolve_to_the_new_homes_and_never_shadow_a_real_module():
    old = importlib.import_module("crm_predict.timing_task")
    assert old.TimingBundle is TimingBundle
    assert importlib.import_module("crm_predict.bundle").ModelBundle is ModelBundle
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("crm_predict.no_such_module")
