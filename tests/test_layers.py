"""The layering contract: imports flow down the picture in DESIGN.md, and a cycle cannot return.

``[tool.importlinter]`` in pyproject.toml lists the subpackages top (cli) to bottom
(config, exceptions); import-linter fails on any import from a lower layer to a higher one,
function-level imports included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(src: Path) -> subprocess.CompletedProcess:
    if not LINT.is_file():
        pytest.fail(f"lint-imports not found next to {sys.executable}: install the test extra")
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=src.parent,
        env={"PYTHONPATH": str(src), "PATH": str(LINT.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_its_layers():
    run = _lint(ROOT / "src")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "KEPT" in run.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "crm_predict",
        src / "crm_predict",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    io = src / "crm_predict" / "data" / "io.py"
    io.write_text(
        io.read_text()
        + "\n\ndef _upward():\n    from crm_predict.scoring import batch\n\n    return batch\n"
    )
    run = _lint(src)
    assert run.returncode != 0
    assert "crm_predict.data.io -> crm_predict.scoring.batch" in run.stdout
