"""The models a task scores with, loaded once: the main model and its companions.

A task registers up to three models (:mod:`crm_predict.tracking.registry`): the main one
under the task's name, and beside it ``<task>-bayes`` and ``<task>-timing``. Scoring, the
report and the drift check all want the same set, so it travels as one
:class:`TaskModels`, loaded once by :func:`crm_predict.tracking.load_task_models`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_predict.config import TaskConfig
from crm_predict.scoring.bundle import ModelBundle, TimingBundle


@dataclass
class TaskModels:
    """A task's main model with its Bayesian and time-to-event companions.

    Attributes
    ----------
    main : ModelBundle
        The model whose probability is written as ``p_convert`` (``p_churn`` for churn),
        graded, ranked and explained.
    bayes : ModelBundle or None
        The task's Bayesian model: its 90% interval is written as ``p_low``/``p_high``
        beside the main model's probability (when the main model gives none), and the
        report shows its segment rates and per-field effects.
    timing : TimingBundle or None
        The task's time-to-event model: it adds the horizon columns (``p_convert_<h>d``,
        ``p_ever``, ``median_days``, ``expected_days``) and, for a conversion task,
        conditions the score on each lead's time open (:mod:`crm_predict.explain.age`).
    label : str
        Names the main model in the score file's ``model`` column and in reports, e.g.
        ``leads_demo@champion v3``.
    sources : dict
        The URI each model was loaded from, by role (``main``, ``bayes``, ``timing``);
        empty for models built in Python.

    Examples
    --------
    >>> result = train_task(config, models=("gbm", "timing"))  # doctest: +SKIP
    >>> gbm, timing = result.models["gbm"].bundle, result.timing.bundle  # doctest: +SKIP
    >>> models = TaskModels(gbm, timing=timing, label="leads_demo gbm")  # doctest: +SKIP
    >>> score_leads(models, "scored.csv", "2025-01-01", source="open.csv")  # doctest: +SKIP
    """

    main: ModelBundle
    bayes: ModelBundle | None = None
    timing: TimingBundle | None = None
    label: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, models: TaskModels | ModelBundle) -> TaskModels:
        """``models`` itself, or a bare :class:`ModelBundle` as a task's only model.

        Parameters
        ----------
        models : TaskModels or ModelBundle
            What a caller passed to :func:`~crm_predict.scoring.batch.score_leads`, a report
            or a drift check.

        Returns
        -------
        TaskModels

        Examples
        --------
        >>> TaskModels.of(bundle).bayes is None  # doctest: +SKIP
        True
        """
        return models if isinstance(models, TaskModels) else cls(models)

    @property
    def config(self) -> TaskConfig:
        """The task, as the main model was trained for it."""
        return self.main.config
