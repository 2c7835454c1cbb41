"""Tune the LightGBM model with Optuna: a resumable, shareable study in an RDB storage.

The data is loaded and the features are built once per run; every trial then fits
:class:`~crm_predict.models.gbm.CalibratedLGBM` on ``tuning.folds`` validation folds inside
the training period (rolling origin; stratified K-fold without dates) with parameters drawn
from the config's ``tuning.space`` and is scored by the mean validation log loss over the
folds, so the holdout stays untouched (:mod:`crm_predict.lifecycle.tune_objective`). A LightGBM
callback reports the running fold mean every few rounds, and the median pruner stops trials
that lag behind. The study lives in a SQLite file (or any SQLAlchemy URL, e.g. PostgreSQL):
run ``crm-predict tune`` again to resume it, or start it on several machines with the same
``--storage`` to share it. The best parameters are written as a config overlay
(:func:`crm_predict.lifecycle.tune_space.write_overlay`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from threadpoolctl import threadpool_limits

from crm_predict.config import TaskConfig
from crm_predict.data.loading import TaskData
from crm_predict.exceptions import CRMPredictError
from crm_predict.lifecycle.tune_objective import (
    PruningCallback,
    TuningData,
    TuningFold,
    make_objective,
    prepare_tuning_data,
)
from crm_predict.lifecycle.tune_space import defaults_in, suggest_params, write_overlay
from crm_predict.lifecycle.tune_storage import open_storage
from crm_predict.progress import steps
from crm_predict.tracking import tuning_run

__all__ = [
    "PruningCallback",
    "TuningData",
    "TuningFold",
    "TuningResult",
    "default_storage",
    "make_objective",
    "open_study",
    "prepare_tuning_data",
    "suggest_params",
    "tune_task",
    "write_overlay",
]

OBJECTIVE = "valid_log_loss"


def default_storage(workdir: str | Path | None = None) -> str:
    """``sqlite:///<workdir>/optuna.db`` (the current folder when None)."""
    folder = Path(workdir) if workdir is not None else Path.cwd()
    return f"sqlite:///{(folder / 'optuna.db').resolve()}"


def open_study(
    config: TaskConfig,
    storage: str,
    study_name: str | None = None,
    worker: int = 0,
) -> optuna.Study:
    """Create the task's study in ``storage``, or load it when it exists (resume / share).

    The TPE sampler is seeded from ``tuning.seed`` (else the task's seed), the number of
    trials already in the study and ``worker``, so a resumed run or a second worker does
    not repeat the first one's random start.

    Examples
    --------
    >>> study = open_study(cfg, "sqlite:///optuna.db")  # doctest: +SKIP
    >>> study.study_name  # doctest: +SKIP
    'leads_demo-gbm'
    """
    spec = config.tuning
    name = study_name or f"{config.name}-gbm"
    rdb = open_storage(storage)
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=5, n_warmup_steps=spec.prune_warmup_rounds
    )
    probe = optuna.create_study(
        storage=rdb, study_name=name, direction="minimize", load_if_exists=True, pruner=pruner
    )
    seed = spec.seed if spec.seed is not None else config.seed
    mixed = int(np.random.SeedSequence([seed, len(probe.trials), worker]).generate_state(1)[0])
    sampler = optuna.samplers.TPESampler(seed=mixed, n_startup_trials=spec.startup_trials)
    study = optuna.load_study(study_name=name, storage=rdb, sampler=sampler, pruner=pruner)
    if not study.trials and worker == 0:
        study.set_user_attr("task", config.name)
        study.enqueue_trial(defaults_in(spec.space), user_attrs={"defaults": True})
    return study


@dataclass
class TuningResult:
    """What a tuning run did and found (the best trial is the study's, over all workers)."""

    study_name: str
    storage: str
    trials_run: int
    trials_total: int
    pruned: int
    best_value: float
    best_params: dict
    best_trial: int
    default_value: float | None
    overlay: Path | None
    seconds: float
    tracking: dict


def _value(trial: optuna.trial.FrozenTrial | None) -> float | None:
    return None if trial is None or trial.value is None else float(trial.value)


@contextlib.contextmanager
def _optuna_quiet() -> Iterator[None]:
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def tune_task(
    config: TaskConfig,
    n_trials: int,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    config_path: str | Path | None = None,
    output: str | Path | None = None,
    workdir: str | Path | None = None,
    tracking_uri: str | None = None,
    track: bool = True,
    worker: int = 0,
    quiet: bool = False,
    data: TaskData | None = None,
) -> TuningResult:
    """Run (or resume) the task's Optuna study and write the best parameters as an overlay.

    Parameters
    ----------
    config : TaskConfig
        The task; ``tuning`` holds the search space.
    n_trials : int
        Trials this call runs (the study may hold more from earlier runs or other workers).
    timeout : float, optional
        Stop starting trials after this many seconds.
    storage : str, optional
        SQLAlchemy URL of the study storage (default :func:`default_storage`).
    study_name : str, optional
        Default ``<task>-gbm``.
    config_path : str or Path, optional
        The task's YAML; needed to write the overlay.
    output : str or Path, optional
        The overlay (default ``<workdir>/<config stem>.tuned.yaml``).
    workdir : str or Path, optional
        Folder of the default storage, MLflow store and overlay (made when missing).
    tracking_uri : str, optional
        MLflow tracking URI (see :func:`crm_predict.tracking.resolve_tracking_uri`).
    track : bool
        Log the study run and one nested run per trial to MLflow.
    worker : int
        This worker's number (mixed into the sampler seed; give each worker its own).
    quiet : bool
        No progress bar.
    data : TaskData, optional
        Already loaded data.

    Returns
    -------
    TuningResult

    Examples
    --------
    >>> cfg = load_config("configs/leads_demo.yaml")  # doctest: +SKIP
    >>> result = tune_task(cfg, 20, config_path="configs/leads_demo.yaml")  # doctest: +SKIP
    >>> result.overlay  # doctest: +SKIP
    PosixPath('.../leads_demo.tuned.yaml')
    """
    start = time.perf_counter()
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    storage = storage or default_storage(workdir)
    # BLAS on one thread, as in training: the boosters use the cores.
    with (
        _optuna_quiet(),
        steps(n_trials + 1, quiet=quiet) as progress,
        threadpool_limits(limits=1, user_api="blas"),
    ):
        progress.step("loading data and building features")
        prepared = prepare_tuning_data(config, data)
        study = open_study(config, storage, study_name, worker)
        waiting = optuna.trial.TrialState.WAITING
        before = {t.number for t in study.trials if t.state != waiting}
        tracker = _tracker(config, study, storage, tracking_uri, workdir, track)
        with tracker as log:

            def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
                if log is not None:
                    log.log_trial(
                        trial.number,
                        trial.params,
                        trial.value,
                        trial.state.name,
                        trial.intermediate_values,
                        trial.user_attrs,
                    )
                best = _best(study)
                shown = f"best {best.value:.4f}" if best is not None else "no trial done"
                progress.step(f"trial {trial.number} {trial.state.name.lower()}; {shown}")

            progress.step("trial 1")
            study.optimize(
                make_objective(prepared),
                n_trials=n_trials,
                timeout=timeout,
                callbacks=[on_trial],
            )
            result = _summarise(study, before, storage, config, config_path, output, workdir)
            if log is not None:
                log.log_result(result)
                result.tracking = {"run_id": log.run_id}
    result.seconds = time.perf_counter() - start
    return result


def _tracker(config, study, storage, tracking_uri, workdir, track):
    if not track:
        return contextlib.nullcontext(None)

    return tuning_run(config.name, study.study_name, storage, tracking_uri, workdir)


def _best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return min(done, key=lambda t: t.value) if done else None


def _summarise(study, before, storage, config, config_path, output, workdir) -> TuningResult:
    best = _best(study)
    if best is None:
        raise CRMPredictError(
            f"no trial of study '{study.study_name}' finished; raise --trials or --timeout"
        )
    mine = [t for t in study.trials if t.number not in before]
    defaults = [t for t in study.trials if t.user_attrs.get("defaults")]
    params = {**best.params, "n_estimators": config.tuning.max_estimators}
    overlay = None
    if config_path is not None:
        folder = Path(workdir) if workdir is not None else Path.cwd()
        target = output or folder / f"{Path(config_path).stem}.tuned.yaml"
        default_value = _value(defaults[0]) if defaults else None
        note = (
            f"Tuned by crm-predict tune: study '{study.study_name}', trial {best.number} of "
            f"{len(study.trials)}, mean validation log loss over {config.tuning.folds} folds "
            f"{best.value:.5f}"
            + (f" (defaults {default_value:.5f})" if default_value is not None else "")
        )
        overlay = write_overlay(config_path, params, target, note)
    state = optuna.trial.TrialState
    return TuningResult(
        study_name=study.study_name,
        storage=storage,
        trials_run=len(mine),
        trials_total=len(study.trials),
        pruned=sum(t.state == state.PRUNED for t in study.trials),
        best_value=float(best.value),
        best_params=params,
        best_trial=best.number,
        default_value=_value(defaults[0]) if defaults else None,
        overlay=overlay,
        seconds=0.0,
        tracking={},
    )
