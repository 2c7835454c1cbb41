"""A stand-in for NUTS (house rule 5): unit tests replace ``bayes._sample`` with it."""

from __future__ import annotations

import arviz as az
import numpy as np

from crm_predict.models.bayes.density import CellDensity

# Centre of each fake posterior variable; every draw is centre + N(0, SPREAD).
CENTRES = {"intercept": -1.0, "slope": 0.5, "sigma_": 0.4}
SPREAD = 0.1


def fake_sample(model, *, draws, chains, divergences=0, **_) -> az.InferenceData:
    """Independent draws per posterior variable, shaped by the model's dims.

    Level effects get a known ladder from -0.5 to 0.5 (summing to zero); every other
    variable is centred on :data:`CENTRES`; ``divergences`` draws are marked divergent.
    """
    rng = np.random.default_rng(0)
    posterior = {}
    if isinstance(model, CellDensity):  # what nutpie samples
        all_dims = model.dims
    else:  # the PyMC model
        names = [var.name for var in [*model.free_RVs, *model.deterministics]]
        all_dims = {name: model.named_vars_to_dims.get(name, ()) for name in names}
    for name, dims in all_dims.items():
        if name.startswith(("z_", "y_")):  # coordinates of effects, not kept
            continue
        shape = tuple(len(model.coords[d]) for d in dims)
        values = rng.normal(0.0, SPREAD, (chains, draws, *shape))
        if name.startswith("b_"):  # level effects: a known ladder, summing to zero
            values += np.linspace(-0.5, 0.5, shape[0])
        values += next((v for k, v in CENTRES.items() if name.startswith(k)), 0.0)
        posterior[name] = np.abs(values) if name.startswith("sigma_") else values
    diverging = np.zeros((chains, draws), dtype=bool)
    diverging.flat[:divergences] = True
    return az.from_dict(
        posterior=posterior,
        sample_stats={"diverging": diverging},
        coords=dict(model.coords),
        dims={k: list(v) for k, v in all_dims.items() if k in posterior and v},
    )
