"""Time-to-convert benchmark: our hazard model against Kaplan–Meier and CoxPH.

Run ``python benchmarks/timing.py`` from the repository root (``../shared/data`` beside it).
Each task uses its config's time-ordered split over every record with a creation date (open
ones censored at ``as_of``). The baselines are fitted in the conversion-subdistribution
framing (lost records kept at risk until ``as_of``, Fine–Gray style), so their survival
curves compare with ``1 − CIF_convert`` of our competing-risks model; CoxPH is
scikit-survival's (lifelines cannot be installed beside pandas 3). Prints a markdown table
for ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date

import pandas as pd

from crm_predict.config import load_config
from crm_predict.data.loading import load_task_data
from crm_predict.features import build_model_frame
from crm_predict.training.timing import fit_timing

TASKS = ("leads_demo", "maven_opportunities")


def run_task(name: str) -> pd.DataFrame:
    """Fit and compare the three models on one task."""
    config = load_config(f"configs/{name}.yaml")
    data = load_task_data(config)
    frame, aggregator = build_model_frame(data, config)
    start = time.perf_counter()
    timing = fit_timing(config, data, frame, aggregator)
    total = time.perf_counter() - start
    table = timing.comparison.copy()
    table.insert(0, "task", name)
    table["n_train"] = timing.bundle.card["n_train"]
    table["n_test"] = timing.bundle.card["n_test"]
    print(f"{name}: {total:.1f} s in all; {timing.bundle.card['split']}")
    for note in timing.notes:
        print(f"  note: {note}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    args = parser.parse_args()
    tables = [run_task(name) for name in args.tasks]
    table = pd.concat(tables, ignore_index=True)
    cols = ["task", "model", "c_index", "c_index_uno", "ibs"]
    cols += [c for c in table.columns if c.startswith("ece_")]
    cols += ["fit_seconds", "n_train", "n_test"]
    print(f"\n{date.today()}, Python {platform.python_version()}, {platform.machine()}\n")
    print(markdown(table[cols]))


def markdown(table: pd.DataFrame) -> str:
    """A pipe table (no tabulate dependency)."""

    def cell(v) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
