"""Synthetic CRMs with planted effects: B2B leads (and a drifting variant) and customers."""

from crm_predict.data.synthetic.customers import (
    SyntheticCustomers,
    make_customers,
    planted_churn_effects,
)
from crm_predict.data.synthetic.drift import (
    drift_scenario,
)
from crm_predict.data.synthetic.leads import (
    SyntheticCRM,
    make_leads,
    planted_effects,
)

__all__ = [
    "SyntheticCRM",
    "SyntheticCustomers",
    "drift_scenario",
    "make_customers",
    "make_leads",
    "planted_churn_effects",
    "planted_effects",
]
