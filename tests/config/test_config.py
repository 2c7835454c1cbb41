"""Task configs: the shipped YAML files load, and every mistake a user can make is named."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

from crm_predict.config import TaskConfig, load_config, parse_config
from crm_predict.exceptions import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHIPPED = ["leads_demo", "maven_opportunities", "xeducation_leads", "xeducation_leads_leaky"]


def minimal() -> dict:
    """The smallest valid task, as a parsed YAML mapping."""
    return {
        "name": "leads",
        "source": {"path": "leads.csv"},
        "id_column": "lead_id",
        "target": {"column": "status", "positive": ["won"], "negative": ["lost"]},
        "features": {"categorical": ["source"]},
    }


def write_yaml(path: Path, raw: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def config_error(raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, origin="task.yaml")
    return str(info.value)


# --- the shipped configs -------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_loads(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert isinstance(cfg, TaskConfig)
    assert cfg.name == name
    # Every config names at least one field and a two-sided target.
    assert cfg.target.positive and cfg.target.negative
    assert any(cfg.features.model_fields_for(r) for r in ("categorical", "numeric", "count"))


def test_file_configs_point_into_shared_data():
    for name in ("maven_opportunities", "xeducation_leads"):
        cfg = load_config(CONFIGS / f"{name}.yaml")
        assert cfg.source.path is not None and cfg.source.path.is_absolute()
        assert cfg.source.path.parent.name in {"data", "maven_crm"}
        assert "shared" in cfg.source.path.parts
    maven = load_config(CONFIGS / "maven_opportunities.yaml")
    assert [j.name for j in maven.joins] == ["accounts", "products", "sales_teams"]
    assert all(j.path is not None and j.path.is_absolute() for j in maven.joins)
    assert maven.recode["product"] == {"GTXPro": "GTX Pro"}


def test_leaky_overlay_extends_the_honest_config():
    honest = load_config(CONFIGS / "xeducation_leads.yaml")
    leaky = load_config(CONFIGS / "xeducation_leads_leaky.yaml")
    assert honest.features.use_leaky is False
    assert leaky.features.use_leaky is True
    assert leaky.name == "xeducation_leads_leaky"
    # Everything the overlay does not set comes from the parent.
    assert leaky.source == honest.source
    assert leaky.target == honest.target
    assert leaky.features.leaky == honest.features.leaky
    assert leaky.missing_values == honest.missing_values
    # The leaky fields reach the model only in the overlay.
    tags_honest = honest.features.model_fields_for("categorical")
    tags_leaky = leaky.features.model_fields_for("categorical")
    assert "Tags" not in tags_honest and "Tags" in tags_leaky
    assert set(tags_leaky) - set(tags_honest) == {
        f for f in honest.features.leaky if f in honest.features.categorical
    }
    requested = {c for c, _ in honest.column_requests()}
    assert not requested & set(honest.features.leaky)


# --- paths ---------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_yaml_folder(tmp_path, monkeypatch):
    raw = minimal()
    raw["source"] = {"path": "data/leads.csv"}
    raw["joins"] = [{"name": "accounts", "path": "../shared/accounts.csv", "key": "account"}]
    raw["activities"] = {"path": "acts.parquet", "id_column": "lead_id", "time_column": "ts"}
    cfg_file = write_yaml(tmp_path / "project" / "configs" / "task.yaml", raw)
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    folder = cfg_file.parent.resolve()
    for cwd in (elsewhere, tmp_path, folder):
        monkeypatch.chdir(cwd)
        # Relative and absolute spellings of the config path give the same result.
        for given in (cfg_file, Path(os.path.relpath(cfg_file, cwd))):
            cfg = load_config(given)
            assert cfg.source.path == folder / "data" / "leads.csv"
            assert cfg.joins[0].path == (folder / ".." / "shared" / "accounts.csv").resolve()
            assert cfg.activities is not None
            assert cfg.activities.path == folder / "acts.parquet"


def test_absolute_paths_are_kept(tmp_path):
    raw = minimal()
    target = tmp_path / "exports" / "leads.csv"
    raw["source"] = {"path": str(target)}
    cfg = load_config(write_yaml(tmp_path / "cfg" / "task.yaml", raw))
    assert cfg.source.path == target


def test_extends_paths_resolve_against_each_files_own_folder(tmp_path):
    base = minimal()
    base["source"] = {"path": "leads.csv"}
    write_yaml(tmp_path / "base" / "task.yaml", base)
    overlay = {
        "extends": "../base/task.yaml",
        "name": "overlay",
        "activities": {"path": "acts.csv", "id_column": "lead_id", "time_column": "ts"},
    }
    cfg = load_config(write_yaml(tmp_path / "overlay" / "task.yaml", overlay))
    assert cfg.source.path == (tmp_path / "base" / "leads.csv").resolve()
    assert cfg.activities.path == (tmp_path / "overlay" / "acts.csv").resolve()


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_yaml_that_is_not_a_mapping_is_a_config_error(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


# --- unknown, missing and wrong keys -------------------------------------------------------


def test_unknown_top_level_key_is_named_with_a_suggestion():
    raw = minimal()
    raw["featres"] = raw.pop("features")
    msg = config_error(raw)
    assert "task.yaml" in msg
    assert "unknown key 'featres'" in msg
    assert "did you mean 'features'?" in msg
    # And the key it replaced is reported missing.
    assert "missing required key 'features'" in msg


def test_unknown_nested_key_suggests_the_close_one():
    raw = minimal()
    raw["target"]["postive"] = raw["target"].pop("positive")
    msg = config_error(raw)
    assert "unknown key 'target.postive'" in msg
    assert "did you mean 'positive'?" in msg


@pytest.mark.parametrize(
    ("section", "typo", "meant"),
    [
        ("features", "categorcal", "categorical"),
        ("time", "creatd", "created"),
        ("split", "tset_size", "test_size"),
    ],
)
def test_unknown_key_in_every_section_is_suggested(section, typo, meant):
    raw = minimal()
    raw.setdefault(section, {})[typo] = ["x"]
    msg = config_error(raw)
    assert f"unknown key '{section}.{typo}'" in msg
    assert f"did you mean '{meant}'?" in msg


def test_unknown_key_inside_a_list_item_and_a_sub_model():
    raw = minimal()
    raw["joins"] = [{"name": "accounts", "path": "a.csv", "key": "account", "colums": ["x"]}]
    raw["features"]["size_bands"] = {"column": "employees", "egdes": [10, 20, 30]}
    msg = config_error(raw)
    assert "unknown key 'joins.0.colums'" in msg
    assert "did you mean 'columns'?" in msg
    assert "unknown key 'features.size_bands.egdes'" in msg
    assert "did you mean 'edges'?" in msg


def test_key_with_no_close_match_gets_no_suggestion():
    raw = minimal()
    raw["zzzzzz"] = 1
    msg = config_error(raw)
    assert "unknown key 'zzzzzz'" in msg
    assert "did you mean" not in msg


@pytest.mark.parametrize("key", ["name", "source", "id_column", "target", "features"])
def test_missing_required_key_is_named(key):
    raw = minimal()
    del raw[key]
    msg = config_error(raw)
    assert f"missing required key '{key}'" in msg


def test_missing_nested_required_keys_are_all_named():
    raw = minimal()
    raw["target"] = {"positive": ["won"]}
    msg = config_error(raw)
    assert "missing required key 'target.column'" in msg
    assert "missing required key 'target.negative'" in msg


def test_every_error_is_listed_at_once():
    raw = minimal()
    raw["featres"] = raw.pop("features")
    del raw["id_column"]
    raw["split"] = {"test_size": 1.5}
    msg = config_error(raw)
    assert "featres" in msg and "id_column" in msg and "split.test_size" in msg


def test_source_needs_exactly_one_origin():
    raw = minimal()
    raw["source"] = {"path": "a.csv", "sql": {"url": "sqlite://", "query": "select 1"}}
    assert "exactly one of 'path', 'sql' or 'synthetic'" in config_error(raw)
    raw["source"] = {}
    assert "exactly one of 'path', 'sql' or 'synthetic'" in config_error(raw)


def test_bad_name_is_rejected():
    raw = minimal()
    raw["name"] = "my task/v2"
    assert "name" in config_error(raw)


# --- extends -------------------------------------------------------------------------------


def test_extends_deep_merges_over_the_parent(tmp_path):
    parent = minimal()
    parent["features"] = {
        "categorical": ["source", "region"],
        "numeric": ["employees"],
        "rare_min_count": 5,
    }
    parent["target"]["open"] = ["open"]
    parent["split"] = {"method": "time", "test_size": 0.3}
    write_yaml(tmp_path / "parent.yaml", parent)
    child = {
        "extends": "parent.yaml",
        "name": "child",
        "features": {"numeric": ["revenue"]},
        "split": {"seed": 7},
    }
    cfg = load_config(write_yaml(tmp_path / "child.yaml", child))
    assert cfg.name == "child"
    # Mappings merge key by key; lists are replaced whole.
    assert cfg.features.categorical == ["source", "region"]
    assert cfg.features.numeric == ["revenue"]
    assert cfg.features.rare_min_count == 5
    assert cfg.split.method == "time" and cfg.split.test_size == 0.3 and cfg.split.seed == 7
    assert cfg.target.open == ["open"]


def test_extends_chains_and_overrides_apply_last(tmp_path):
    write_yaml(tmp_path / "a.yaml", minimal())
    write_yaml(tmp_path / "b.yaml", {"extends": "a.yaml", "seed": 1, "description": "b"})
    write_yaml(tmp_path / "c.yaml", {"extends": "b.yaml", "seed": 2})
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.seed == 2 and cfg.description == "b"
    cfg = load_config(tmp_path / "c.yaml", overrides={"seed": 3, "features": {"lead_age": True}})
    assert cfg.seed == 3
    assert cfg.features.lead_age is True
    assert cfg.features.categorical == ["source"]


def test_extends_cycle_is_a_config_error(tmp_path):
    write_yaml(tmp_path / "a.yaml", {"extends": "b.yaml"})
    write_yaml(tmp_path / "b.yaml", {"extends": "a.yaml"})
    with pytest.raises(ConfigError, match="extends"):
        load_config(tmp_path / "a.yaml")


def test_extends_a_missing_parent_names_it(tmp_path):
    cfg = write_yaml(tmp_path / "child.yaml", {"extends": "ghost.yaml", **minimal()})
    with pytest.raises(ConfigError, match="ghost.yaml"):
        load_config(cfg)


def test_error_names_the_file_it_came_from(tmp_path):
    raw = minimal()
    raw["featres"] = {}
    path = write_yaml(tmp_path / "oops.yaml", raw)
    with pytest.raises(ConfigError, match="oops.yaml"):
        load_config(path)


# --- joins, targets, size bands ------------------------------------------------------------


def test_join_key_defaults_right_key_to_key():
    raw = minimal()
    raw["joins"] = [
        {"name": "accounts", "path": "a.csv", "key": "account"},
        {"name": "teams", "path": "t.csv", "key": "agent", "right_key": "sales_agent"},
    ]
    cfg = parse_config(raw)
    assert cfg.joins[0].key_in_table == "account"
    assert cfg.joins[1].key_in_table == "sales_agent"
    assert ("account", "joins[accounts].key") in cfg.column_requests()


def test_join_written_with_on_tells_the_user_to_write_key(tmp_path):
    text = (
        "name: leads\n"
        "source: {path: leads.csv}\n"
        "id_column: lead_id\n"
        "target: {column: status, positive: [won], negative: [lost]}\n"
        "features: {categorical: [source]}\n"
        "joins:\n"
        "  - name: accounts\n"
        "    path: accounts.csv\n"
        "    on: account\n"
    )
    path = tmp_path / "task.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert "joins.0" in msg
    assert "'on:'" in msg and "'key:'" in msg
    assert "missing required key 'joins.0.key'" in msg
    # No pydantic jargon about key types reaches the user.
    assert "Keys should be strings" not in msg


def test_other_yaml_boolean_keys_are_explained():
    raw = minimal()
    raw["source"] = {"path": "a.csv", False: "x"}
    msg = config_error(raw)
    assert "source" in msg and "quote it" in msg
    assert "Keys should be strings" not in msg


@pytest.mark.parametrize(
    ("positive", "negative", "open_", "value"),
    [
        (["won"], ["won", "lost"], [], "won"),
        (["won"], ["lost"], ["lost"], "lost"),
        (["won", "open"], ["lost"], ["open"], "open"),
    ],
)
def test_target_value_in_two_groups_is_rejected(positive, negative, open_, value):
    raw = minimal()
    raw["target"] = {"column": "status", "positive": positive, "negative": negative, "open": open_}
    msg = config_error(raw)
    assert "target" in msg
    assert repr(value) in msg


def test_disjoint_target_groups_are_accepted():
    raw = minimal()
    raw["target"]["open"] = ["open", "engaging"]
    assert parse_config(raw).target.open == ["open", "engaging"]


@pytest.mark.parametrize(
    ("edges", "labels", "message"),
    [
        ([50, 250], ["small", "mid", "large", "enterprise"], "one more entry than edges"),
        ([50, 250, 1000], ["small", "large"], "one more entry than edges"),
        ([250, 50, 1000], ["a", "b", "c", "d"], "increasing"),
    ],
)
def test_size_bands_must_fit_their_labels(edges, labels, message):
    raw = minimal()
    raw["features"]["size_bands"] = {"column": "employees", "edges": edges, "labels": labels}
    msg = config_error(raw)
    assert "features.size_bands" in msg
    assert message in msg


def test_size_bands_defaults_are_consistent():
    raw = minimal()
    raw["features"]["size_bands"] = {"column": "employees"}
    bands = parse_config(raw).features.size_bands
    assert len(bands.labels) == len(bands.edges) + 1


def test_column_requests_name_the_config_key_and_skip_leaky_fields():
    raw = minimal()
    raw["features"] = {
        "categorical": ["source", "tags"],
        "numeric": ["employees"],
        "date": ["last_call"],
        "leaky": ["tags"],
        "size_bands": {"column": "employees"},
    }
    raw["time"] = {"created": "created_at"}
    raw["segments"] = ["region"]
    req = parse_config(raw).column_requests()
    assert ("lead_id", "id_column") in req
    assert ("status", "target.column") in req
    assert ("created_at", "time.created") in req
    assert ("source", "features.categorical") in req
    assert ("last_call", "features.date") in req
    assert ("employees", "features.size_bands.column") in req
    assert ("region", "segments") in req
    assert all(col != "tags" for col, _ in req)
    leaky = copy.deepcopy(raw)
    leaky["features"]["use_leaky"] = True
    assert ("tags", "features.categorical") in parse_config(leaky).column_requests()


def test_configs_are_frozen():
    cfg = parse_config(minimal())
    with pytest.raises(ValueError):
        cfg.name = "other"


def test_grade_cutoffs_come_from_the_config_and_must_decrease():
    from tests.helpers import synthetic_task

    raw = synthetic_task().model_dump(mode="json")
    assert parse_config({**raw, "grades": {"A": 0.3, "B": 0.15, "C": 0.08}}).grades["C"] == 0.08
    with pytest.raises(ConfigError, match="grades"):
        parse_config({**raw, "grades": {"A": 0.3, "B": 0.5, "C": 0.08}})


@pytest.mark.parametrize(
    ("kind", "churn", "expected"),
    [
        ("conversion", None, False),
        ("churn", None, True),
        ("conversion", {"horizon_days": 60}, True),
        ("churn", {"signup": "signup_date", "churn_date": "churn_date"}, True),
    ],
)
def test_is_churn_is_the_one_churn_rule(kind, churn, expected):
    raw = {**minimal(), "kind": kind, **({"churn": churn} if churn else {})}
    cfg = parse_config(raw)
    assert cfg.is_churn is expected
    assert cfg.records == ("customers" if expected else "leads")
    assert (cfg.churn_history is not None) is (churn is not None and "signup" in churn)
