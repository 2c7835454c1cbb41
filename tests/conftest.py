"""Session fixtures shared by every test folder: the synthetic tasks, trained once.

Training is the slow part of most tests, so the models several folders read are fitted here
once per session. Tests must not change what these fixtures return (copy first).
"""

from __future__ import annotations

import pytest

from crm_predict.models.bayes import model as bayes_model
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
