"""On-disk format of a fitted :class:`~crm_predict.models.bayes.model.BayesianConversionModel`.

A saved model is a folder: ``posterior.nc`` holds the posterior and sampler statistics as
ArviZ netCDF, and ``model.json`` holds the estimator's parameters and fitted encoding with a
format version. :func:`write_folder` writes it and :func:`read_folder` reads it back;
:func:`write_model` and :func:`read_model` add the estimator's JSON round trip (tuples and
arrays that JSON turns into lists). :class:`SavedPosterior` gives the estimator ``save``,
``load`` and pickling on top of them.

Examples
--------
>>> idata, meta = read_folder("models/bayes")  # doctest: +SKIP
>>> sorted(meta)  # doctest: +SKIP
['fitted', 'params']
>>> idata, params, fitted = read_model("models/bayes")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import xarray as xr
from sklearn.utils.validation import check_is_fitted

POSTERIOR_FILE = "posterior.nc"
META_FILE = "model.json"
FORMAT_VERSION = 1


class SavedPosterior:
    """Persistence for an estimator with a posterior ``idata_``: folders and pickles.

    The estimator lists its fitted attributes in ``_FITTED`` and rebuilds its scoring
    draws with ``_posterior_draws()``; those draws are derived, so neither the folder nor a
    pickle stores them.
    """

    _FITTED: tuple[str, ...] = ()

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to a folder: ``posterior.nc`` (ArviZ) and ``model.json``.

        Examples
        --------
        >>> model.save("models/bayes")  # doctest: +SKIP
        """
        check_is_fitted(self, "idata_")
        fitted = {name: getattr(self, name) for name in self._FITTED}
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = self.feature_names_in_
        return write_model(path, self.idata_, self.get_params(), fitted)

    @classmethod
    def load(cls, path: str | Path) -> Any:
        """Restore a model written by :meth:`save`; it predicts identically.

        Examples
        --------
        >>> model = BayesianConversionModel.load("models/bayes")  # doctest: +SKIP
        """
        idata, params, fitted = read_model(path)
        model = cls(**params)
        for name, value in fitted.items():
            setattr(model, name, value)
        model.idata_ = idata
        model._draws = model._posterior_draws()
        return model

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_draws", None)  # derived from idata_; rebuilt on unpickling
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "idata_" in state:
            self._draws = self._posterior_draws()


def write_folder(path: str | Path, idata: az.InferenceData, meta: dict[str, Any]) -> Path:
    """Write ``posterior.nc`` (ArviZ netCDF) and ``model.json`` into ``path``."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    idata.to_netcdf(str(folder / POSTERIOR_FILE))
    text = json.dumps({"format_version": FORMAT_VERSION, **meta}, indent=2, default=_json)
    (folder / META_FILE).write_text(text, encoding="utf-8")
    return folder


def read_folder(path: str | Path) -> tuple[az.InferenceData, dict[str, Any]]:
    """Read what :func:`write_folder` wrote; the posterior is loaded into memory."""
    folder = Path(path)
    meta_path = folder / META_FILE
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found: is {folder} a saved Bayesian model?")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.pop("format_version", None) != FORMAT_VERSION:
        raise ValueError(f"{meta_path} was written by an incompatible version of crm_predict")
    groups = {}
    for group in ("posterior", "sample_stats"):
        with xr.open_dataset(folder / POSTERIOR_FILE, group=group, engine="h5netcdf") as ds:
            groups[group] = ds.load()  # in memory and the file closed: picklable, movable
    return az.InferenceData(**groups), meta


def write_model(
    path: str | Path, idata: az.InferenceData, params: dict[str, Any], fitted: dict[str, Any]
) -> Path:
    """Write an estimator's ``get_params()``, fitted attributes and posterior into ``path``."""
    fitted = dict(fitted)
    fitted["interactions_"] = [list(pair) for pair in fitted["interactions_"]]
    if "feature_names_in_" in fitted:
        fitted["feature_names_in_"] = list(fitted["feature_names_in_"])
    params = dict(params)
    params["interactions"] = (
        None if params["interactions"] is None else [list(pair) for pair in params["interactions"]]
    )
    return write_folder(path, idata, {"params": params, "fitted": fitted})


def read_model(path: str | Path) -> tuple[az.InferenceData, dict[str, Any], dict[str, Any]]:
    """Read what :func:`write_model` wrote: the posterior, the params and fitted attributes."""
    idata, meta = read_folder(path)
    params = meta["params"]
    if params["interactions"] is not None:
        params["interactions"] = [tuple(pair) for pair in params["interactions"]]
    fitted = meta["fitted"]
    fitted["interactions_"] = [tuple(pair) for pair in fitted["interactions_"]]
    fitted["classes_"] = np.asarray(fitted["classes_"])
    if "feature_names_in_" in fitted:
        fitted["feature_names_in_"] = np.asarray(fitted["feature_names_in_"], dtype=object)
    return idata, params, fitted


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to model.json")
