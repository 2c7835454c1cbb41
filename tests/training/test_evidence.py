"""Out-of-fold evidence: a capped Bayesian refit scores its fold without warning the user."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from crm_predict.models.bayes import model as bayes
from crm_predict.models.bayes.model import BayesConvergenceWarning, BayesianConversionModel
from crm_predict.training.evidence import REFIT_CAPS, out_of_fold
from tests.fakes import fake_sample


def leads(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"source": rng.choice(["web", "referral", "event"], n)})
    return X, (rng.uniform(size=n) < 0.3).astype(int)


def test_a_capped_refit_scores_its_fold_quietly_with_fewer_draws(monkeypatch):
    X, y = leads()
    pipe = Pipeline(
        [("features", FunctionTransformer()), ("model", BayesianConversionModel(draws=1000))]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monkeypatch.setattr(bayes, "_sample", fake_sample)
        pipe.fit(X, y)
    draws_seen = []

    def unconverged(model, *, draws, **kw):  # every refit warns: 3 divergent draws
        draws_seen.append(draws)
        return fake_sample(model, draws=draws, divergences=3, **kw)

    monkeypatch.setattr(bayes, "_sample", unconverged)
    folds = [(np.arange(0, 200), np.arange(200, 300)), (np.arange(0, 300), np.arange(300, 400))]
    with warnings.catch_warnings():
        warnings.simplefilter("error", BayesConvergenceWarning)
        rows, y_rows, preds = out_of_fold({"bayes": pipe}, X, y, folds)
    assert draws_seen == [REFIT_CAPS["bayes"]["draws"]]  # the latest fold only, capped
    np.testing.assert_array_equal(rows, np.arange(300, 400))
    np.testing.assert_array_equal(y_rows, y[300:])
    assert np.all((preds["bayes"] > 0) & (preds["bayes"] < 1))
    with pytest.warns(BayesConvergenceWarning):  # the same fit outside the refit does warn
        BayesianConversionModel(draws=300).fit(X.iloc[:300], y[:300])
