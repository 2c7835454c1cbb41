"""Saved models outlive the code layout: module paths of earlier releases, resolved to today's.

A registered model is a pickle (MLflow's pyfunc format), and a pickle names the module of
every class in it. Release 0.2 moved the flat modules of 0.1 into subpackages
(``crm_predict.bundle`` is now :mod:`crm_predict.scoring.bundle`). :func:`install` adds an
import hook that answers only for the old names in :data:`MOVED_IN_0_2`: each becomes an
alias module whose attributes are looked up in the new module, so a model saved by 0.1
unpickles into today's classes and scores identically (tested with a committed 0.1
artifact). The hook never shadows a module that exists: an old module that became a
package of the same name (``crm_predict.config``, ``crm_predict.models.timing``, …)
re-exports its classes from the package instead. When a later release moves a
module, add its old and new path here; never remove a line.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

#: Old module path (release 0.1) -> the module that holds its names now.
MOVED_IN_0_2: dict[str, str] = {
    "crm_predict.config_fields": "crm_predict.config.fields",
    "crm_predict.config_tables": "crm_predict.config.sources",
    "crm_predict.config_training": "crm_predict.config.training",
    "crm_predict.io": "crm_predict.data.io",
    "crm_predict.safe_files": "crm_predict.data.files",
    "crm_predict.datecols": "crm_predict.data.dates",
    "crm_predict.schema": "crm_predict.data.schema",
    "crm_predict.loading": "crm_predict.data.loading",
    "crm_predict.touch_source": "crm_predict.data.touches",
    "crm_predict.leadlist": "crm_predict.data.leadlist",
    "crm_predict.split": "crm_predict.data.split",
    "crm_predict.folds": "crm_predict.data.folds",
    "crm_predict.survival_data": "crm_predict.data.survival",
    "crm_predict.profile": "crm_predict.data.profile",
    "crm_predict.datasets": "crm_predict.data.synthetic.leads",
    "crm_predict.datasets_churn": "crm_predict.data.synthetic.customers",
    "crm_predict.model_factory": "crm_predict.models.factory",
    "crm_predict.models.bayes_encoding": "crm_predict.models.bayes.encoding",
    "crm_predict.models.bayes_io": "crm_predict.models.bayes.io",
    "crm_predict.models.bayes_outputs": "crm_predict.models.bayes.outputs",
    "crm_predict.models.bayes_sampling": "crm_predict.models.bayes.sampling",
    "crm_predict.models.hazard_calibration": "crm_predict.models.timing.hazard_calibration",
    "crm_predict.models.periods": "crm_predict.models.timing.periods",
    "crm_predict.treeshap": "crm_predict.explain.treeshap",
    "crm_predict._treeshap_core": "crm_predict.explain._treeshap_core",
    "crm_predict.reasons": "crm_predict.explain.reasons",
    "crm_predict.age": "crm_predict.explain.age",
    "crm_predict.evaluate_calibration": "crm_predict.evaluate.calibration",
    "crm_predict.evaluate_inputs": "crm_predict.evaluate.inputs",
    "crm_predict.evaluate_compare": "crm_predict.evaluate.compare",
    "crm_predict.evaluate_timing": "crm_predict.evaluate.timing",
    "crm_predict.grades": "crm_predict.evaluate.grades",
    "crm_predict.plots": "crm_predict.evaluate.plots",
    "crm_predict.psi": "crm_predict.evaluate.psi",
    "crm_predict.base_rate": "crm_predict.evaluate.base_rate",
    "crm_predict.retention": "crm_predict.churn.retention",
    "crm_predict.metrics_cx": "crm_predict.churn.cx",
    "crm_predict.metrics_cx.customers": "crm_predict.churn.cx.customers",
    "crm_predict.metrics_cx.surveys": "crm_predict.churn.cx.surveys",
    "crm_predict.metrics_cx.value": "crm_predict.churn.cx.value",
    "crm_predict.bundle": "crm_predict.scoring.bundle",
    "crm_predict.score": "crm_predict.scoring.batch",
    "crm_predict.score_sql": "crm_predict.scoring.sql",
    "crm_predict.train": "crm_predict.training.train",
    "crm_predict.selection": "crm_predict.training.selection",
    "crm_predict.evidence": "crm_predict.training.evidence",
    "crm_predict.timing_task": "crm_predict.training.timing",
    "crm_predict.churn_timing": "crm_predict.training.churn_timing",
    "crm_predict.monitor": "crm_predict.lifecycle.monitor",
    "crm_predict.tune": "crm_predict.lifecycle.tune",
    "crm_predict.tune_objective": "crm_predict.lifecycle.tune_objective",
    "crm_predict.tune_space": "crm_predict.lifecycle.tune_space",
    "crm_predict.tune_storage": "crm_predict.lifecycle.tune_storage",
    "crm_predict.retrain": "crm_predict.lifecycle.retrain",
    "crm_predict.backtest": "crm_predict.lifecycle.backtest",
}

#: Names that left their module's successor: ``(old module, name) -> new module``.
NAMES_MOVED: dict[tuple[str, str], str] = {
    ("crm_predict.timing_task", "TimingBundle"): "crm_predict.scoring.bundle",
    ("crm_predict.monitor", "reference_profile"): "crm_predict.evaluate.profile",
    ("crm_predict.churn_timing", "expected_remaining_days"): "crm_predict.models.timing.lifetime",
}


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds only the module paths of earlier releases; loads each as an alias module."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED_IN_0_2:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec):
        return None

    def exec_module(self, module: ModuleType) -> None:
        old = module.__name__
        new = importlib.import_module(MOVED_IN_0_2[old])

        def __getattr__(name: str):
            home = NAMES_MOVED.get((old, name))
            return getattr(importlib.import_module(home) if home else new, name)

        module.__getattr__ = __getattr__
        module.__doc__ = f"Alias of {new.__name__} for models saved before release 0.2."


def install() -> None:
    """Resolve the module paths of earlier releases (idempotent).

    Examples
    --------
    >>> install()
    >>> import importlib
    >>> importlib.import_module("crm_predict.bundle").ModelBundle.__module__
    'crm_predict.scoring.bundle'
    """
    if not any(isinstance(f, _OldPaths) for f in sys.meta_path):
        sys.meta_path.append(_OldPaths())
