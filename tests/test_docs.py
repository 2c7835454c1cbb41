"""The documentation is checked: every CLI command's help runs, and configs/README.md
documents exactly the keys of the config schema."""

from __future__ import annotations

import re
import textwrap
import types
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from crm_predict.cli.app import app
from crm_predict.config import TaskConfig

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\|\s*(`[^|]*?)\s*\|")
LOADER_KEYS = {"extends"}  # read by load_config before the schema sees the mapping


def schema_keys(model: type[BaseModel], prefix: str = "", seen: set | None = None) -> set[str]:
    """Dotted keys of a pydantic model, ``[]`` for list items and ``<name>`` for map keys.

    A section type met again (a second ``TableSource``) adds only its own key: the README
    documents the keys inside it once, where the type first appears.
    """
    seen = set() if seen is None else seen
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        key = f"{prefix}{info.alias or name}"
        keys.add(key)
        for inner, suffix in _models_in(info.annotation):
            if inner in seen:
                continue
            seen.add(inner)
            keys |= schema_keys(inner, f"{key}{suffix}.", seen)
    return keys


def _models_in(annotation) -> list[tuple[type[BaseModel], str]]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, "")]
    if origin in (typing.Union, types.UnionType):
        return [m for a in args for m in _models_in(a)]
    if origin is list:
        return [(m, f"[]{s}") for m, s in _models_in(args[0])]
    if origin is dict:
        return [(m, f".<name>{s}") for m, s in _models_in(args[1])]
    return []


def documented_keys(text: str) -> set[str]:
    """Keys in the first column of the README's key tables; ``a.b`, `.c`` means a.b, a.c."""
    keys: set[str] = set()
    for line in text.splitlines():
        match = ROW.match(line)
        if not match:
            continue
        names = re.findall(r"`([^`]+)`", match.group(1))
        if not names or names[0] in {"file"} or names[0].endswith(".yaml"):
            continue
        first = names[0]
        keys.add(first)
        parent = first.rsplit(".", 1)[0]
        keys |= {parent + n for n in names[1:] if n.startswith(".")}
    return keys


@pytest.fixture(scope="module")
def readme_keys() -> set[str]:
    return documented_keys((ROOT / "configs" / "README.md").read_text(encoding="utf-8"))


def _covered(key: str, documented: set[str]) -> bool:
    """A key is documented itself, or (a section) through the keys under it."""
    return key in documented or any(d.startswith((f"{key}.", f"{key}[]")) for d in documented)


def test_every_schema_key_is_documented(readme_keys):
    missing = sorted(k for k in schema_keys(TaskConfig) if not _covered(k, readme_keys))
    assert not missing, f"keys missing from configs/README.md: {missing}"


def test_every_documented_key_exists(readme_keys):
    unknown = sorted(readme_keys - schema_keys(TaskConfig) - LOADER_KEYS)
    assert not unknown, f"configs/README.md documents keys the schema lacks: {unknown}"


def _commands() -> list[str]:
    return sorted(c.name or c.callback.__name__ for c in app.registered_commands)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_working_help_named_in_the_readme(command):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and command in result.output
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"crm-predict {command}" in readme, f"README.md does not show crm-predict {command}"


def test_the_readme_own_csv_config_is_a_valid_task():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your own CSV in three steps", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    config = TaskConfig.model_validate(yaml.safe_load(textwrap.dedent(block)))
    assert config.name == "my_leads" and config.target.open == ["Open"]
    commands = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    for command in ("validate", "train", "score", "report"):
        assert f"crm-predict {command} " in commands
    assert commands.count("models:/my_leads@champion") == 2
