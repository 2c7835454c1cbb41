"""Training labels and the holdout split: by time like a user, or stratified without dates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from crm_predict.config import TaskConfig
from crm_predict.loading import TaskData
from crm_predict.schema import OPEN


def training_labels(data: TaskData, config: TaskConfig) -> pd.Series:
    """Return 1.0 / 0.0 per record, NaN for records that are not labelled yet.

    Open records are censored, not negatives: they stay unlabelled unless the config sets
    ``target.open_negative_after_days`` and the record has been open longer than that.

    Examples
    --------
    >>> from crm_predict.config import load_config  # doctest: +SKIP
    >>> training_labels(data, cfg).value_counts(dropna=False)  # doctest: +SKIP
    """
    label = data.label.copy()
    days = config.target.open_negative_after_days
    if days is not None and config.time.created:
        age = (data.as_of - data.frame[config.time.created]) / pd.Timedelta(days=1)
        label[(data.outcome == OPEN) & (age > days)] = 0.0
    return label


@dataclass(frozen=True)
class Split:
    """Row positions for training and for the holdout test.

    ``train`` is ordered so that its last ``validation_size`` share is the validation
    slice: the most recent part of the training period for a time split, a random part
    for a stratified one. ``description`` says how the holdout was chosen.
    """

    train: np.ndarray
    test: np.ndarray
    method: str
    description: str
    validation_size: float
    cutoff: pd.Timestamp | None = None


def split_task(data: TaskData, labels: pd.Series, config: TaskConfig) -> Split:
    """Choose training and test rows among the labelled records.

    Parameters
    ----------
    data : TaskData
        The loaded task.
    labels : Series
        Output of :func:`training_labels`.
    config : TaskConfig
        ``split`` settings; ``time.created`` enables the time split.

    Returns
    -------
    Split
    """
    s = config.split
    labelled = np.flatnonzero(labels.notna().to_numpy())
    created = config.time.created
    method = s.method
    if method == "auto":
        method = "time" if created else "stratified"
    if method == "time":
        if not created:
            raise ValueError("split.method 'time' needs time.created in the config")
        dates = data.frame[created].to_numpy()[labelled]
        dated = ~pd.isna(dates)
        order = labelled[dated][np.argsort(dates[dated], kind="stable")]
        n_test = max(1, int(round(len(order) * s.test_size)))
        train, test = order[:-n_test], order[-n_test:]
        cutoff = pd.Timestamp(data.frame[created].iloc[test[0]])
        first = pd.Timestamp(data.frame[created].iloc[order[0]])
        desc = (
            f"time-ordered: trained on {len(train):,} records created "
            f"{first:%Y-%m-%d} to {cutoff:%Y-%m-%d}, tested on the {len(test):,} created "
            f"after (the most recent {s.test_size:.0%})"
        )
        return Split(train, test, "time", desc, s.validation_size, cutoff)
    y = labels.to_numpy()[labelled]
    train, test = train_test_split(labelled, test_size=s.test_size, stratify=y, random_state=s.seed)
    desc = (
        f"stratified random {1 - s.test_size:.0%}/{s.test_size:.0%} split (seed {s.seed}; "
        f"no creation date to split by time): {len(train):,} training, {len(test):,} test "
        "records"
    )
    return Split(train, np.sort(test), "stratified", desc, s.validation_size)
