"""The study storage: workers sharing one SQLite file each run an enqueued trial once."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import optuna
import pytest

from crm_predict.lifecycle.tune_storage import open_storage

_WORKER = textwrap.dedent(
    """
    import sys, time
    import optuna
    from crm_predict.lifecycle.tune_storage import open_storage
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="queue", storage=open_storage(sys.argv[1]))
    def objective(trial):
        trial.set_user_attr("worker", sys.argv[2])
        time.sleep(0.02)
        return trial.suggest_float("x", 0.0, 1.0)
    study.optimize(objective, n_trials={per_worker})
    """
)


@pytest.mark.slow
def test_enqueued_trials_are_each_run_once_by_concurrent_workers(tmp_path):
    """Four workers drain a queue of 40 trials; the plain driver lets two pop the same one."""
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    workers, per_worker = 4, 10
    study = optuna.create_study(study_name="queue", storage=open_storage(url))
    queued = [i / 40 for i in range(workers * per_worker)]
    for x in queued:
        study.enqueue_trial({"x": x})
    script = tmp_path / "worker.py"
    script.write_text(_WORKER.format(per_worker=per_worker))
    procs = [
        subprocess.Popen([sys.executable, str(script), url, str(i)], stderr=subprocess.PIPE)
        for i in range(workers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
    trials = optuna.load_study(study_name="queue", storage=url).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * len(queued)
    assert sorted(t.params["x"] for t in trials) == queued
    ran = [t.user_attrs["worker"] for t in trials]
    assert sorted(ran.count(str(i)) for i in range(workers)) == [per_worker] * workers


def test_a_storage_opened_twice_keeps_its_studies(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = optuna.create_study(study_name="kept", storage=open_storage(url))
    first.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    again = optuna.load_study(study_name="kept", storage=open_storage(url))
    assert [t.value for t in again.trials] == [t.value for t in first.trials]
