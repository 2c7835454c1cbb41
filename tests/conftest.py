"""Session fixtures shared by every test folder: the synthetic tasks, trained once.

Training is the slow part of most tests, so the models several folders read are fitted here
once per session. Tests must not change what these fixtures return (copy first).

Unit tests boost faster than the package does (:func:`fast_boosting`); ``slow`` and
``integration`` tests, and the notebooks, keep the package's defaults.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy
from mlflow.store.db import utils as mlflow_db

from crm_predict.models.bayes import model as bayes_model
from crm_predict.models.gbm import DEFAULT_LGBM_PARAMS
from crm_predict.training.train import TrainResult, train_task
from tests.fakes import fake_sample
from tests.helpers import synthetic_task


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Work units for pytest-xdist's ``--dist loadgroup`` (see the Makefile), longest first.

    A test file is one unit, sent whole to one worker, so its module fixtures are built
    once; a test marked ``xdist_group`` (each notebook) is a unit of its own instead, so
    that long tests of one file run on all workers. Files with ``slow`` tests go first:
    a long unit sent last would leave the other workers idle at the end.
    """
    if config.getoption("dist", "no") != "loadgroup":
        return
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(scope="session")
def leads_model() -> TrainResult:
    """The synthetic leads task (3,000 leads, seed 7), LightGBM and the logistic baseline."""
    return train_task(synthetic_task(n_leads=3000, seed=7), quiet=True)


@pytest.fixture(scope="session")
def leads_with_bayes() -> TrainResult:
    """1,500 synthetic leads (seed 5), LightGBM plus a Bayesian model whose sampler is faked
    (:func:`tests.fakes.fake_sample`: the real sampler runs in the slow recovery tests)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bayes_model, "_sample", fake_sample)
        return train_task(synthetic_task(n_leads=1500, seed=5), models=("gbm", "bayes"), quiet=True)


@pytest.fixture(scope="session", autouse=True)
def migrated_mlflow_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """New SQLite tracking stores get their tables copied from one migrated store.

    MLflow builds a new store's schema by running each of its migrations, one commit (and
    one fsync) each: 5-7 s per store, and the tests make dozens. The first new SQLite
    store of a test worker is migrated as usual and kept as the template; the tables of
    every later one are copied from it (SQLite's backup API). Stores on other databases,
    and MLflow's schema check on every store, are left alone.
    """
    migrate = mlflow_db._initialize_tables
    templates: list[sqlalchemy.engine.Engine] = []

    def copy_schema(target: sqlalchemy.engine.Engine) -> None:
        if target.dialect.name != "sqlite":
            migrate(target)
            return
        if not templates:
            path = tmp_path_factory.mktemp("mlflow") / "schema.db"
            templates.append(sqlalchemy.create_engine(f"sqlite:///{path}"))
            migrate(templates[0])
        source, connection = templates[0].raw_connection(), target.raw_connection()
        try:
            source.driver_connection.backup(connection.driver_connection)
        finally:
            source.close()
            connection.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mlflow_db, "_initialize_tables", copy_schema)
        yield
    for engine in templates:
        engine.dispose()


FAST_LEARNING_RATE = 0.1
"""LightGBM's learning rate in unit tests: about three times fewer trees than the default."""


@pytest.fixture(autouse=True)
def fast_boosting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast estimator overlay: unit tests fit LightGBM at :data:`FAST_LEARNING_RATE`.

    Early stopping still picks the rounds, so the models stay good; tests marked ``slow``
    or ``integration`` measure quality with the package defaults and are left alone.
    """
    node = request.node
    if node.get_closest_marker("slow") or node.get_closest_marker("integration"):
        return
    monkeypatch.setitem(DEFAULT_LGBM_PARAMS, "learning_rate", FAST_LEARNING_RATE)
