"""Training labels and the holdout split: by time like a user, or stratified without dates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from crm_predict.config import TaskConfig
from crm_predict.data.folds import rolling_origin_folds
from crm_predict.data.loading import TaskData
from crm_predict.data.schema import OPEN


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
    method = split_method(config)
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


def split_method(config: TaskConfig) -> str:
    """``time`` or ``stratified``: the config's ``split.method``, with ``auto`` resolved.

    ``auto`` splits by time when the config names a creation date (``time.created``).

    Examples
    --------
    >>> split_method(load_config("configs/telco_churn.yaml"))  # doctest: +SKIP
    'stratified'
    """
    if config.split.method != "auto":
        return config.split.method
    return "time" if config.time.created else "stratified"


def validation_folds(
    split: Split, labels: pd.Series, n_folds: int, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fit / validation row positions inside the training part; the holdout is never used.

    A time split gets rolling-origin folds: ``n_folds`` consecutive blocks of
    ``validation_size`` of the training rows, the last one ending where the holdout
    starts, each fitted on every training row created before it. A stratified split gets
    stratified K-fold (one random ``validation_size`` slice when ``n_folds`` is 1).

    Parameters
    ----------
    split : Split
        From :func:`split_task`.
    labels : Series
        From :func:`training_labels` (used to stratify).
    n_folds : int
        Folds wanted; a time split keeps only those with at least one block to fit on.
    seed : int
        Shuffling seed of the stratified folds.

    Returns
    -------
    list of (fit rows, validation rows), oldest first

    Examples
    --------
    >>> folds = validation_folds(split, labels, 3)  # doctest: +SKIP
    >>> [len(v) for _, v in folds]  # doctest: +SKIP
    [960, 960, 960]
    """
    train = split.train
    block = max(2, int(round(len(train) * split.validation_size)))
    if split.method == "time" or n_folds <= 1:
        return rolling_origin_folds(train, n_folds, block)
    from sklearn.model_selection import StratifiedKFold

    y = labels.to_numpy()[train].astype(int)
    kfold = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(train[a], train[b]) for a, b in kfold.split(train, y)]
