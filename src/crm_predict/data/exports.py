"""The synthetic CRM written as the files a CRM export gives: leads, activities, truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crm_predict.data.io import write_table
from crm_predict.data.synthetic.leads import make_leads


def write_leads(
    folder: str | Path,
    n_leads: int = 20_000,
    seed: int = 42,
    drift_from: str | pd.Timestamp | None = None,
    drift_shift: float = 0.0,
) -> dict[str, Path]:
    """Write the synthetic ``leads.csv``, ``activities.csv`` and ``truth.csv`` into ``folder``.

    Parameters
    ----------
    folder : str or Path
        Target folder (created if missing).
    n_leads, seed : int
        Passed to :func:`crm_predict.data.synthetic.leads.make_leads`.
    drift_from : str or Timestamp, optional
        Passed to :func:`crm_predict.data.synthetic.leads.make_leads`.
    drift_shift : float
        Passed to :func:`crm_predict.data.synthetic.leads.make_leads`.

    Returns
    -------
    dict
        Table name to written path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    crm = make_leads(n_leads, seed, drift_from, drift_shift)
    paths = {}
    for name in ("leads", "activities", "truth"):
        paths[name] = folder / f"{name}.csv"
        write_table(getattr(crm, name), paths[name])
    return paths
