"""Tune the LightGBM model with Optuna: a resumable, shareable study in an RDB storage.

The data is loaded and the features are built once (:func:`prepare_tuning_data`); every
trial then only fits :class:`~crm_predict.models.gbm.CalibratedLGBM` with parameters drawn
from the config's ``tuning.space`` (:func:`make_objective`). Rows are those of
``train_task``'s training part: the model is fitted on its older share and judged by log
loss on its most recent ``split.validation_size`` share, so the holdout stays untouched.
A LightGBM callback reports the booster's validation log loss to Optuna every few rounds,
and the median pruner stops trials that lag behind. The study lives in a SQLite file (or
any SQLAlchemy URL, e.g. PostgreSQL): run ``crm-predict tune`` again to resume it, or start
it on several machines with the same ``--storage`` to share it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
import yaml
from sklearn.metrics import log_loss, roc_auc_score

from crm_predict.config import ParamRange, TaskConfig, TuningSpec
from crm_predict.features import build_model_frame
from crm_predict.io import atomic_path
from crm_predict.loading import TaskData, load_task_data
from crm_predict.models.gbm import DEFAULT_LGBM_PARAMS, PROBABILITY_FLOOR, CalibratedLGBM
from crm_predict.progress import steps
from crm_predict.split import split_task, training_labels
from crm_predict.train import build_pipeline

OBJECTIVE = "valid_log_loss"


@dataclass
class TuningData:
    """Feature matrices shared by every trial (built once per study run)."""

    config: TaskConfig
    X_fit: pd.DataFrame
    y_fit: np.ndarray
    X_valid: pd.DataFrame
    y_valid: np.ndarray


def prepare_tuning_data(config: TaskConfig, data: TaskData | None = None) -> TuningData:
    """Load the task, split it as ``train_task`` does and build the features once.

    The features are fitted on the older part of the training rows only, so the validation
    rows are new to them as well.

    Parameters
    ----------
    config : TaskConfig
        The task.
    data : TaskData, optional
        Already loaded data.

    Returns
    -------
    TuningData

    Examples
    --------
    >>> prepared = prepare_tuning_data(load_config("configs/leads_demo.yaml"))  # doctest: +SKIP
    >>> prepared.X_fit.shape[0] > prepared.X_valid.shape[0]  # doctest: +SKIP
    True
    """
    data = data if data is not None else load_task_data(config)
    frame, aggregator = build_model_frame(data, config)
    acts = list(aggregator.get_feature_names_out()) if aggregator else None
    labels = training_labels(data, config)
    split = split_task(data, labels, config)
    y = labels.to_numpy()
    n_valid = max(2, int(round(len(split.train) * config.split.validation_size)))
    fit_rows, valid_rows = split.train[:-n_valid], split.train[-n_valid:]
    features = build_pipeline(config, "passthrough", acts, data.as_of)
    X_fit = features.fit_transform(frame.iloc[fit_rows], y[fit_rows].astype(int))
    X_valid = features.transform(frame.iloc[valid_rows])
    return TuningData(config, X_fit, y[fit_rows].astype(int), X_valid, y[valid_rows].astype(int))


def suggest_params(trial: optuna.Trial, space: dict[str, ParamRange]) -> dict[str, float | int]:
    """Draw one value per parameter of the search space.

    Examples
    --------
    >>> study = optuna.create_study()
    >>> params = suggest_params(study.ask(), {"num_leaves": ParamRange(low=4, high=64,
    ...     integer=True)})
    >>> 4 <= params["num_leaves"] <= 64
    True
    """
    out: dict[str, float | int] = {}
    for name, r in space.items():
        if r.integer:
            out[name] = trial.suggest_int(name, int(r.low), int(r.high), log=r.log)
        else:
            out[name] = trial.suggest_float(name, r.low, r.high, log=r.log)
    return out


class PruningCallback:
    """A LightGBM callback that reports the validation log loss to an Optuna trial.

    Every ``every`` rounds the value is reported as the trial's intermediate value at that
    round; when the pruner says the trial lags behind the others at the same round,
    :class:`optuna.TrialPruned` stops the fit.

    Parameters
    ----------
    trial : optuna.Trial
    every : int
        Rounds between reports (each report is a write to the study storage).
    """

    def __init__(self, trial: optuna.Trial, every: int = 10) -> None:
        self.trial = trial
        self.every = every

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        step = env.iteration + 1
        if step % self.every:
            return
        values = [r[2] for r in env.evaluation_result_list if r[1] in ("binary_logloss", "logloss")]
        if not values:
            return
        self.trial.report(float(values[0]), step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"validation log loss {values[0]:.4f} at round {step}")


class _ReportingBooster(lgb.LGBMClassifier):
    """An LGBMClassifier that adds extra callbacks to every ``fit``."""

    _extra_callbacks: tuple = ()

    def fit(self, X, y, **kwargs):
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), *self._extra_callbacks]
        return super().fit(X, y, **kwargs)


class _PrunableLGBM(CalibratedLGBM):
    """CalibratedLGBM whose booster also calls a trial's pruning callback (tuning only)."""

    _callbacks: tuple = ()

    def _booster(self) -> lgb.LGBMClassifier:
        booster = _ReportingBooster(**super()._booster().get_params())
        booster._extra_callbacks = self._callbacks
        return booster


def make_objective(
    prepared: TuningData, spec: TuningSpec | None = None
) -> Callable[[optuna.Trial], float]:
    """Return the Optuna objective: validation log loss of one parameter draw.

    The returned function closes over the prepared matrices, so a study reuses them.

    Parameters
    ----------
    prepared : TuningData
        From :func:`prepare_tuning_data`.
    spec : TuningSpec, optional
        Search space and budget (default: the config's ``tuning`` section).

    Returns
    -------
    callable
        ``objective(trial) -> float``; records ``roc_auc``, ``best_iteration``,
        ``fit_seconds`` and ``worker`` (host:pid) as the trial's user attributes.
    """
    config = prepared.config
    spec = spec or config.tuning

    def objective(trial: optuna.Trial) -> float:
        params = {**suggest_params(trial, spec.space), "n_estimators": spec.max_estimators}
        model = _PrunableLGBM(
            params=params,
            validation_fraction=config.split.validation_size,
            early_stopping_rounds=spec.early_stopping_rounds,
            random_state=config.seed,
        )
        model._callbacks = (PruningCallback(trial, spec.report_every),)
        # Which machine and process ran it: several workers may share one study.
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        start = time.perf_counter()
        model.fit(prepared.X_fit, prepared.y_fit)
        p = model.predict_proba(prepared.X_valid)[:, 1]
        y = prepared.y_valid
        trial.set_user_attr("fit_seconds", round(time.perf_counter() - start, 3))
        trial.set_user_attr("best_iteration", int(model.booster_.best_iteration_ or 0))
        if 0 < y.sum() < len(y):
            trial.set_user_attr("roc_auc", float(roc_auc_score(y, p)))
        return float(log_loss(y, np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)))

    return objective


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
    engine_kwargs = {"connect_args": {"timeout": 120}} if storage.startswith("sqlite") else {}
    rdb = None
    for attempt in range(5):
        try:
            rdb = optuna.storages.RDBStorage(storage, engine_kwargs=engine_kwargs)
            break
        except Exception:  # two workers creating the tables at once: the loser retries
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
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
        study.enqueue_trial(_defaults_in(spec.space), user_attrs={"defaults": True})
    return study


def _defaults_in(space: dict[str, ParamRange]) -> dict[str, float | int]:
    """The built-in LightGBM defaults that lie in the search space (the first trial)."""
    out: dict[str, float | int] = {}
    for name, r in space.items():
        value = DEFAULT_LGBM_PARAMS.get(name)
        if isinstance(value, int | float) and r.low <= value <= r.high:
            out[name] = int(value) if r.integer else float(value)
    return out


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


def write_overlay(
    config_path: str | Path, params: dict, output: str | Path, note: str = ""
) -> Path:
    """Write a config overlay that ``extends`` ``config_path`` with tuned ``gbm.params``.

    Parameters
    ----------
    config_path : str or Path
        The tuned task's YAML.
    params : dict
        LightGBM parameters.
    output : str or Path
        The overlay YAML (written atomically).
    note : str
        A comment line on top (study, trial, score).

    Returns
    -------
    Path

    Examples
    --------
    >>> write_overlay("configs/leads_demo.yaml", {"num_leaves": 15}, "tuned.yaml")  # doctest: +SKIP
    PosixPath('tuned.yaml')
    """
    output = Path(output).resolve()
    parent = os.path.relpath(Path(config_path).resolve(), output.parent)
    clean = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
    body = yaml.safe_dump({"gbm": {"params": clean}}, sort_keys=True)
    header = "".join(f"# {line}\n" for line in note.splitlines() if line)
    with atomic_path(output) as tmp:
        tmp.write_text(f"{header}extends: {parent}\n{body}", encoding="utf-8")
    return output


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
        Folder of the default storage, MLflow store and overlay.
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
    storage = storage or default_storage(workdir)
    with _optuna_quiet(), steps(n_trials + 1, quiet=quiet) as progress:
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
    from crm_predict.tracking import tuning_run

    return tuning_run(config.name, study.study_name, storage, tracking_uri, workdir)


def _best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return min(done, key=lambda t: t.value) if done else None


def _summarise(study, before, storage, config, config_path, output, workdir) -> TuningResult:
    best = _best(study)
    if best is None:
        from crm_predict.exceptions import CRMPredictError

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
            f"{len(study.trials)}, validation log loss {best.value:.5f}"
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
