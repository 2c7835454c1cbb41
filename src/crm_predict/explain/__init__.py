"""Why a lead scored what it did: exact TreeSHAP, per-field contributions, reason sentences,
and the lead's age as one more contribution."""

from crm_predict.explain.age import (
    age_offsets,
    rescale_horizons,
    shift,
    with_age,
)
from crm_predict.explain.contributions import (
    Contributions,
    bayes_contributions,
    contributions,
    explainable,
    field_contributions,
    linear_contributions,
)
from crm_predict.explain.reasons import (
    FieldRates,
    field_value,
    label_of,
    percent,
    strength,
    top_reasons,
    value_text,
)
from crm_predict.explain.tree_cache import (
    blend_ensemble,
    grouped_contributions,
)
from crm_predict.explain.treeshap import (
    TreeEnsemble,
)

__all__ = [
    "Contributions",
    "FieldRates",
    "TreeEnsemble",
    "age_offsets",
    "bayes_contributions",
    "blend_ensemble",
    "contributions",
    "explainable",
    "field_contributions",
    "field_value",
    "grouped_contributions",
    "label_of",
    "linear_contributions",
    "percent",
    "rescale_horizons",
    "shift",
    "strength",
    "top_reasons",
    "value_text",
    "with_age",
]
