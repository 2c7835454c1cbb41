"""The hierarchical Bayesian conversion model (PyMC): encoding, sampling, outputs, persistence."""

from crm_predict.models.bayes.density import CellDensity, make_density
from crm_predict.models.bayes.encoding import (
    collapse_cells,
    encode_rows,
    learn_encoding,
    learn_target,
    level_spread_ratio,
)
from crm_predict.models.bayes.io import (
    SavedPosterior,
    read_folder,
    read_model,
    write_folder,
    write_model,
)
from crm_predict.models.bayes.model import (
    BayesConvergenceWarning,
    BayesianConversionModel,
)
from crm_predict.models.bayes.outputs import (
    PosteriorDraws,
    convergence,
    convergence_advice,
    field_terms,
    numeric_rows,
    posterior_draws,
    row_summary,
    segment_rows,
)
from crm_predict.models.bayes.sampling import (
    CENTRED_MIN_RATIO,
    DEFAULT_PRIORS,
    SAMPLERS,
    centred_fields,
    check_settings,
    fixed_spread,
    level_basis,
    make_model,
    merge_priors,
    posterior_names,
    sample,
    trim_posterior,
)

__all__ = [
    "CENTRED_MIN_RATIO",
    "DEFAULT_PRIORS",
    "SAMPLERS",
    "SavedPosterior",
    "BayesConvergenceWarning",
    "BayesianConversionModel",
    "CellDensity",
    "PosteriorDraws",
    "centred_fields",
    "check_settings",
    "collapse_cells",
    "convergence",
    "convergence_advice",
    "encode_rows",
    "field_terms",
    "fixed_spread",
    "learn_encoding",
    "learn_target",
    "level_basis",
    "level_spread_ratio",
    "make_density",
    "make_model",
    "merge_priors",
    "numeric_rows",
    "posterior_draws",
    "posterior_names",
    "read_folder",
    "read_model",
    "row_summary",
    "sample",
    "segment_rows",
    "trim_posterior",
    "write_folder",
    "write_model",
]
