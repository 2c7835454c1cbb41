"""Session fixtures shared by every test folder: the synthetic tasks, trained once.

Training is the slow part of most tests, so the models several folders read are fitted here
once per session. Tests must not change what these fixtures return (copy first).

Unit tests boost faster than the package does (:func:`fast_boosting`); ``slow`` and
``integration`` tests, and the notebooks, keep the package's defaults.
"""

from __future__ import annotations

import pytest

from crm_predict.models.bayes import model as bayes_model
from crm_predict.models.gbm import DEFAULT_LGBM_PARAMS
from crm_predict.training.train import TrainResult, train_task
from tests.fakes import fake_sample
from tests.helpers import synthetic_task


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
