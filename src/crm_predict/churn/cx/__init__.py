"""Customer-experience and customer-value metrics: NPS, CSAT, CES, churn, revenue churn, CLV, CAC.

Each metric is a small function with its formula in the docstring. Conventions shared by
all of them:

* **Missing answers are not respondents.** NaN scores are dropped before counting.
* **No respondents, no customers: NaN.** A metric over nobody is undefined, not 0: it is
  returned as ``nan`` so that a by-segment or by-month table shows a blank for an empty
  group instead of failing or inventing a value. Check with ``math.isnan``.
* **Out-of-range scores raise** :class:`ValueError` naming the field, the allowed range and
  the first offending values: a CSAT of 7 on a 1–5 scale is an export problem to fix, not a
  number to average.
* Periods are half-open ``(start, end]``: a customer who churns on ``start`` is not in the
  starting base; one who churns on ``end`` churned within the period.

Survey scores live in :mod:`.surveys`, customer and revenue churn in :mod:`.customers`,
lifetime value and acquisition cost in :mod:`.value`; all are importable from here.

Examples
--------
>>> nps([10, 9, 8, 3])
25.0
"""

from __future__ import annotations

from crm_predict.churn.cx.customers import (
    churn_by_month,
    churn_rate,
    customers_at,
    retention_rate,
    revenue_churn_rate,
)
from crm_predict.churn.cx.surveys import ces, csat, metric_by_month, metric_by_segment, nps
from crm_predict.churn.cx.value import cac, clv, clv_to_cac

__all__ = [
    "nps",
    "csat",
    "ces",
    "customers_at",
    "churn_rate",
    "retention_rate",
    "revenue_churn_rate",
    "clv",
    "cac",
    "clv_to_cac",
    "metric_by_segment",
    "metric_by_month",
    "churn_by_month",
]
