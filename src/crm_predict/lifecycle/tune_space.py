"""The tuning search space: drawing parameters, the defaults trial and the config overlay.

``tuning.space`` in the task's YAML maps LightGBM parameter names to
:class:`~crm_predict.config.task.ParamRange` (``low``, ``high``, ``log``, ``integer``).
:func:`suggest_params` draws one value per parameter for an Optuna trial,
:func:`defaults_in` gives the built-in parameters that lie in the space (the study's first
trial) and :func:`write_overlay` writes the best parameters back as a config that
``extends`` the tuned one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import optuna
import yaml

from crm_predict.config import ParamRange
from crm_predict.data.io import atomic_path
from crm_predict.models.gbm import DEFAULT_LGBM_PARAMS


def suggest_params(trial: optuna.Trial, space: dict[str, ParamRange]) -> dict[str, float | int]:
    """Draw one value per parameter of the search space.

    Examples
    --------
    >>> study = optuna.create_study()
    >>> params = suggest_params(study.ask(), {"num_leaves": ParamRange(low=4, high=64,
    ...     integer=True)})
    >>> 4 <= params["num_leaves"] <= 64
    True
    """
    out: dict[str, float | int] = {}
    for name, r in space.items():
        if r.integer:
            out[name] = trial.suggest_int(name, int(r.low), int(r.high), log=r.log)
        else:
            out[name] = trial.suggest_float(name, r.low, r.high, log=r.log)
    return out


def defaults_in(space: dict[str, ParamRange]) -> dict[str, float | int]:
    """The built-in LightGBM defaults that lie in the search space (the first trial).

    Examples
    --------
    >>> defaults_in({"num_leaves": ParamRange(low=4, high=48, integer=True)})
    {'num_leaves': 31}
    """
    out: dict[str, float | int] = {}
    for name, r in space.items():
        value = DEFAULT_LGBM_PARAMS.get(name)
        if isinstance(value, int | float) and r.low <= value <= r.high:
            out[name] = int(value) if r.integer else float(value)
    return out


def write_overlay(
    config_path: str | Path, params: dict, output: str | Path, note: str = ""
) -> Path:
    """Write a config overlay that ``extends`` ``config_path`` with tuned ``gbm.params``.

    Parameters
    ----------
    config_path : str or Path
        The tuned task's YAML.
    params : dict
        LightGBM parameters.
    output : str or Path
        The overlay YAML (written atomically).
    note : str
        A comment line on top (study, trial, score).

    Returns
    -------
    Path

    Examples
    --------
    >>> write_overlay("configs/leads_demo.yaml", {"num_leaves": 15}, "tuned.yaml")  # doctest: +SKIP
    PosixPath('tuned.yaml')
    """
    output = Path(output).resolve()
    parent = os.path.relpath(Path(config_path).resolve(), output.parent)
    clean = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
    body = yaml.safe_dump({"gbm": {"params": clean}}, sort_keys=True)
    header = "".join(f"# {line}\n" for line in note.splitlines() if line)
    with atomic_path(output) as tmp:
        tmp.write_text(f"{header}extends: {parent}\n{body}", encoding="utf-8")
    return output
