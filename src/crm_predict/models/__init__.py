"""Models: gradient boosting, Bayesian hierarchical, time to event."""
