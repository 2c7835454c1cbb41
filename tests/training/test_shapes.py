"""Any export shape trains and scores: few fields, no dates, only numbers, one level;
an all-blank field is one clear error.

Each shape is a CRM export generated here (a seeded outcome that depends on the fields it
has), trained with ``train`` at its defaults and scored; the two-field export goes through
the command line end to end: train, score, report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import expit
from typer.testing import CliRunner

from crm_predict.cli.app import app
from crm_predict.config import parse_config
from crm_predict.exceptions import DataValidationError
from crm_predict.explain.reasons import N_AGAINST, N_FOR
from crm_predict.scoring.batch import score_leads
from crm_predict.training.train import default_models, train_task

FAST = {"n_estimators": 60, "learning_rate": 0.1}
N = 800


def _export(seed: int = 0, n: int = N) -> pd.DataFrame:
    """Leads with an origin, a size, a visit count and dates; won, lost or still open."""
    rng = np.random.default_rng(seed)
    origin = rng.choice(["web", "event", "partner", "cold call"], n)
    visits = rng.poisson(3, n)
    size = np.round(np.exp(rng.normal(4, 1, n)))
    logit = -0.4 + 0.9 * (origin == "partner") - 0.8 * (origin == "cold call") + 0.3 * visits - 1
    won = rng.uniform(size=n) < expit(logit)
    created = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 700, n)), "D")
    closed = created + pd.to_timedelta(rng.uniform(5, 60, n), "D")
    status = np.where(closed > pd.Timestamp("2024-12-01"), "open", np.where(won, "won", "lost"))
    return pd.DataFrame(
        {
            "lead_id": [f"A{i:05d}" for i in range(n)],
            "origin": origin,
            "visits": visits,
            "size": size,
            "first_contact": created.strftime("%Y-%m-%d"),
            # A marketing export: only won leads carry a date (the date they were won).
            "won_date": np.where(status == "won", closed.strftime("%Y-%m-%d"), ""),
            "status": status,
        }
    )


def _config(path: Path, features: dict, dated: bool, **extra) -> dict:
    raw = {
        "name": "shape",
        "source": {"path": str(path)},
        "id_column": "lead_id",
        "target": {"column": "status", "positive": ["won"], "negative": ["lost"], "open": ["open"]},
        "features": features,
        "gbm": {"params": FAST},
        **extra,
    }
    if dated:
        raw["time"] = {"created": "first_contact", "closed": "won_date", "as_of": "2024-12-01"}
    return raw


SHAPES = {
    "one categorical, no dates": ({"categorical": ["origin"]}, False, None),
    "one number, dated": ({"count": ["visits"]}, True, None),
    "only numbers": ({"count": ["visits"], "numeric": ["size"]}, False, None),
    "only categoricals, dated": ({"categorical": ["origin", "tier"]}, True, "tier"),
    "a single level": ({"categorical": ["origin", "country"], "count": ["visits"]}, True, "one"),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_export_shape_trains_and_scores(shape, tmp_path):
    features, dated, extra_column = SHAPES[shape]
    frame = _export()
    if extra_column == "tier":
        frame["tier"] = np.where(frame["visits"] > 3, "gold", "silver")
    if extra_column == "one":
        frame["country"] = "Germany"
    path = tmp_path / "leads.csv"
    frame.to_csv(path, index=False)
    config = parse_config(_config(path, features, dated), origin="test")
    models = default_models(config)
    result = train_task(config, models=models, quiet=True, optional=("timing",))
    assert {"gbm", "logreg"} <= set(result.models)
    assert result.champion in result.models
    if dated:
        # lost leads have no close date: the default timing model is skipped with a note
        assert result.timing is None
        assert any(
            "time-to-event model skipped" in n and "no close date" in n for n in result.notes
        )
    n_fields = len(result.models[result.champion].pipeline[:-1].transform(frame.head()).columns)
    open_leads = tmp_path / "open.csv"
    frame.head(50).to_csv(open_leads, index=False)
    out = tmp_path / "scored.csv"
    score_leads(result.models[result.champion].bundle, out, as_of="2024-12-01", source=open_leads)
    scored = pd.read_csv(out, keep_default_na=False)
    assert len(scored) == 50
    p = scored["p_convert"].astype(float)
    assert p.between(0, 1).all() and p.nunique() > 1
    assert scored["reason_for_1"].str.len().gt(0).any()
    if n_fields < N_FOR:
        # slots beyond the task's fields stay empty
        assert (scored[f"reason_for_{N_FOR}"] == "").all()
    assert {f"reason_against_{k}" for k in range(1, N_AGAINST + 1)} <= set(scored.columns)


def test_an_all_blank_field_stops_with_one_clear_error_naming_it(tmp_path):
    frame = _export().assign(blank="")
    path = tmp_path / "leads.csv"
    frame.to_csv(path, index=False)
    raw = _config(path, {"categorical": ["origin"], "numeric": ["blank"]}, dated=False)
    with pytest.raises(DataValidationError, match=r"features\.numeric 'blank': every value is"):
        train_task(parse_config(raw, origin="test"), quiet=True)


def test_a_two_field_export_trains_scores_and_reports_from_the_command_line(tmp_path):
    frame = _export(seed=3)[["lead_id", "origin", "first_contact", "won_date", "status"]]
    path = tmp_path / "leads.csv"
    frame.to_csv(path, index=False)
    config = tmp_path / "task.yaml"
    config.write_text(yaml.safe_dump(_config(path, {"categorical": ["origin"]}, dated=True)))
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runner = CliRunner()
    trained = runner.invoke(
        app, ["train", str(config), "--tracking-uri", store, "--output-dir", str(tmp_path)]
    )
    assert trained.exit_code == 0, trained.output
    assert "champion:" in trained.output and "time-to-event model skipped" in trained.output
    frame[frame["status"] == "open"].to_csv(tmp_path / "open.csv", index=False)
    common = ["--model", "models:/shape@champion", "--tracking-uri", store, "--as-of", "2024-12-01"]
    scored = runner.invoke(
        app,
        [
            "score",
            *common,
            "--input",
            str(tmp_path / "open.csv"),
            "--output",
            str(tmp_path / "s.csv"),
        ],
    )
    assert scored.exit_code == 0, scored.output
    out = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert len(out) == (frame["status"] == "open").sum()
    slots = [f"reason_for_{k}_field" for k in range(1, N_FOR + 1)]
    slots += [f"reason_against_{k}_field" for k in range(1, N_AGAINST + 1)]
    for fields in out[slots].to_numpy():
        named = [f for f in fields if f]
        # two fields (origin, first contact): at most two reasons, never one field twice
        assert len(named) == len(set(named)) <= 2
    assert (out[f"reason_for_{N_FOR}"] == "").all()
    report = runner.invoke(
        app,
        [
            "report",
            *common,
            "--input",
            str(tmp_path / "open.csv"),
            "--output",
            str(tmp_path / "r.html"),
        ],
    )
    assert report.exit_code == 0, report.output
    assert "origin" in (tmp_path / "r.html").read_text(encoding="utf-8").lower()
