"""A synthetic CRM whose market changes late in the training period (the drift scenario)."""

from __future__ import annotations

from crm_predict.data.synthetic.leads import SyntheticCRM, make_leads

DRIFT_FROM = "2024-04-01"
DRIFT_SHIFT = 1.2


def drift_scenario(n_leads: int = 20_000, seed: int = 42) -> SyntheticCRM:
    """Leads whose market changes in the last nine months before ``as_of``.

    From :data:`DRIFT_FROM` on, the base rate rises (log-odds + :data:`DRIFT_SHIFT`),
    referrals stop converting and a new source brings a fifth of the leads: the most recent
    part of the training period and the holdout differ from the earlier months, as real
    sales data does.

    Examples
    --------
    >>> crm = drift_scenario(3_000, seed=1)
    >>> crm.effects["base_after_drift"]["shift"]
    1.2
    """
    return make_leads(n_leads, seed, DRIFT_FROM, DRIFT_SHIFT)
