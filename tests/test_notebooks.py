"""Every notebook runs headless, top to bottom, on small data, so none of them rots.

Notebooks are stored without outputs and define no reusable logic (no ``def`` or
``class``): that belongs in the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
NEEDS_SHARED_DATA = {"02-your-crm-export"}
# Charts each notebook draws inline: calibration and lift, drivers, segment rates, curves.
CHARTS = {
    "01-quickstart": 2,
    "02-your-crm-export": 1,
    "03-bayesian-segments": 1,
    "04-when-will-they-convert": 1,
    "05-churn-and-cx": 1,
}


def _code(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_there_is_a_notebook_per_topic():
    assert [p.stem[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, 7)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_clean_and_defines_no_logic(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "stored with outputs"
            tree = ast.parse(cell.source)
            defined = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)]
            assert not defined, f"{path.name} defines {[d.name for d in defined]}"
    assert any("crm_predict" in source for source in _code(nb))


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.xdist_group(p.stem)) for p in NOTEBOOKS],
    ids=lambda p: p.stem,
)
def test_notebook_runs_headless(path):
    if path.stem in NEEDS_SHARED_DATA and not (ROOT.parent / "shared" / "data").is_dir():
        pytest.skip("needs ../shared/data")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == CHARTS.get(path.stem, 0), f"{len(images)} charts drawn inline"
