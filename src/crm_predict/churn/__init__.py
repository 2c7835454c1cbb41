"""Churn: retention columns (lifetime, CLV, revenue at risk) and the CX metrics
(:mod:`crm_predict.churn.cx`)."""

from crm_predict.churn.retention import (
    add_retention,
    churn_feature_rows,
    churn_row_problems,
    churn_words,
    lifetime_from_horizon,
    rank_column,
    read_event_tables,
)

__all__ = [
    "add_retention",
    "churn_feature_rows",
    "churn_row_problems",
    "churn_words",
    "lifetime_from_horizon",
    "rank_column",
    "read_event_tables",
]
