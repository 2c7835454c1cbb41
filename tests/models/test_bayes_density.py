"""The hand-written density that nutpie samples is the PyMC model's, value and gradient.

Every parameterisation appears once: a fixed-spread field (3 levels), a centred one (strong
planted effects), non-centred ones (no effect), a field nested in another, a single-level
field, an interaction and numerics with a missing-value indicator. No sampling: fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytest
from scipy.special import expit

from crm_predict.models.bayes.density import (
    CENTRED,
    FIXED,
    NESTED,
    NO_EFFECT,
    NON_CENTRED,
    _softplus_sigmoid,
    make_density,
)
from crm_predict.models.bayes.model import BayesianConversionModel
from crm_predict.models.bayes.sampling import level_basis, make_model


def every_kind(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    region = rng.integers(0, 3, n)
    country = region * 3 + rng.integers(0, 3, n)  # 9 countries, 3 per region
    source = rng.integers(0, 6, n)
    logit = -1.0 + np.array([-1.5, -0.5, 0.0, 0.5, 1.0, 1.5])[source] + 0.3 * (region == 1)
    contacts = rng.poisson(3.0, n).astype(float)
    visits = np.where(rng.uniform(size=n) < 0.1, np.nan, rng.gamma(2.0, 2.0, n))
    logit += 0.3 * (contacts - 3.0)
    X = pd.DataFrame(
        {
            "region": [f"r{i}" for i in region],
            "country": [f"c{i}" for i in country],
            "source": [f"s{i}" for i in source],
            "weekday": [f"d{i}" for i in rng.integers(0, 7, n)],
            "channel": "web",
            "contacts": contacts,
            "visits": visits,
        }
    )
    return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)


@pytest.fixture(scope="module")
def both():
    X, y = every_kind()
    estimator = BayesianConversionModel(interactions=[("source", "weekday")])
    prepared = estimator._prepare(X, y)
    return make_model(*prepared), make_density(*prepared), estimator


def test_every_parameterisation_is_covered(both):
    _, density, estimator = both
    kinds = dict(zip(density.tokens, density.spec[:, 0], strict=True))
    assert estimator.nested_in_["country"][0] == "region"
    assert kinds["region"] == FIXED
    assert kinds["source"] == CENTRED
    assert kinds["weekday"] == NON_CENTRED
    assert kinds["country"] == NESTED
    assert kinds["channel"] == NO_EFFECT


def test_value_variables_match_the_pymc_model(both):
    model, density, _ = both
    assert density.value_names == [v.name for v in model.value_vars]
    assert density.ndim == sum(v.size for v in model.initial_point().values())


def test_log_density_and_gradient_match_pymc(both):
    model, density, _ = both
    logp, dlogp = model.compile_logp(jacobian=True), model.compile_dlogp(jacobian=True)
    shapes = {name: value.shape for name, value in model.initial_point().items()}
    rng = np.random.default_rng(1)
    offsets = []
    for _ in range(4):
        x = rng.normal(0.0, 0.7, density.ndim)
        point, at = {}, 0
        for name, shape in shapes.items():
            size = int(np.prod(shape))
            point[name] = x[at : at + size].reshape(shape)
            at += size
        value, grad = density.logp_and_grad(x)
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-9, atol=1e-9)
        offsets.append(value - logp(point))
    # equal up to the normalising constants that the density leaves out
    np.testing.assert_allclose(offsets, offsets[0], rtol=0, atol=1e-8)


def test_expanded_variables_match_the_pymc_model(both):
    model, density, _ = both
    x = np.random.default_rng(2).normal(0.0, 0.7, density.ndim)
    point, at = {}, 0
    for name, value in model.initial_point().items():
        point[name] = x[at : at + value.size].reshape(value.shape)
        at += value.size
    expanded = density.expand(x)
    names = list(expanded)
    outputs = model.replace_rvs_by_values([model[name] for name in names])
    reference = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
    for name, value in zip(names, reference(**point), strict=True):
        np.testing.assert_allclose(expanded[name], value, rtol=1e-12, atol=1e-12, err_msg=name)
    assert density.dims["b_country"] == ("country_level",)
    assert density.dims["slope"] == ("feature",)


def test_initial_point_is_seeded(both):
    _, density, _ = both
    np.testing.assert_array_equal(density.initial_point(3), density.initial_point(3))
    assert not np.array_equal(density.initial_point(3), density.initial_point(4))


def test_softplus_and_sigmoid_are_exact_over_the_whole_range():
    eta = np.concatenate([np.linspace(-60.0, 60.0, 20_001), [0.0, -1e-12, 1e-12, 699.0, -699.0]])
    softplus, prob = np.empty_like(eta), np.empty_like(eta)
    _softplus_sigmoid(eta, softplus, prob)
    np.testing.assert_allclose(softplus, np.logaddexp(0.0, eta), rtol=2e-15, atol=0)
    np.testing.assert_allclose(prob, expit(eta), rtol=2e-15, atol=0)
    far = np.array([-800.0, 800.0])
    _softplus_sigmoid(far, softplus[:2], prob[:2])
    np.testing.assert_allclose(softplus[:2], [0.0, 800.0], atol=1e-300)
    np.testing.assert_allclose(prob[:2], [0.0, 1.0], atol=1e-300)


def test_level_basis_spans_the_effects_that_sum_to_zero_over_the_rows():
    counts = np.array([5794.0, 51.0, 20.0, 118.0, 661.0])  # a dominant (missing) level
    basis = level_basis(counts)
    assert basis.shape == (5, 4)
    np.testing.assert_allclose(basis.T @ basis, np.eye(4), atol=1e-12)  # orthonormal
    np.testing.assert_allclose(counts @ basis, 0.0, atol=1e-9)
    # the dominant level's effect barely moves: it stays near the intercept
    effects = basis @ np.random.default_rng(0).normal(0.0, 1.0, (4, 2000))
    assert effects[0].std() < 0.2 * effects[2].std()
    # equal counts: the plain zero-sum space (PyMC's ZeroSumNormal), in some rotation
    equal = level_basis(np.ones(5))
    np.testing.assert_allclose(equal @ equal.T, np.eye(5) - 1.0 / 5, atol=1e-12)
