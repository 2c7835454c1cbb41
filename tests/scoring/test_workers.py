"""Batch scoring on several worker processes: the same bytes as one worker, bounded work."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys

import pandas as pd
import pytest

from crm_predict.data.synthetic.leads import make_leads
from crm_predict.exceptions import CRMPredictError
from crm_predict.scoring import _ranking
from crm_predict.scoring._workers import check_workers, default_workers
from crm_predict.scoring.batch import rejected_path, score_leads

AS_OF = "2025-01-01"


@pytest.fixture(scope="module")
def bundle(leads_model):
    return leads_model.models["gbm"].bundle


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """The open leads (about 230), with a duplicate, a blank id and a bad number to reject."""
    frame = make_leads(3000, 7).leads
    frame = frame[frame["status"] == "open"].reset_index(drop=True)
    frame = frame.astype({"employees": object})
    frame.loc[5, "lead_id"] = frame.loc[200, "lead_id"]
    frame.loc[17, "lead_id"] = None
    frame.loc[150, "employees"] = "=about fifty"
    path = tmp_path_factory.mktemp("leads") / "open_leads.csv"
    frame.to_csv(path, index=False)
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_workers_write_the_same_bytes_as_one(bundle, messy, tmp_path):
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    # 100-row chunks and blocks: three of each, so both passes run on the pool.
    a = score_leads(bundle, one, as_of=AS_OF, source=messy, chunksize=100, workers=1)
    b = score_leads(bundle, two, as_of=AS_OF, source=messy, chunksize=100, workers=2)
    assert digest(one) == digest(two)
    assert digest(rejected_path(one)) == digest(rejected_path(two))
    n = len(pd.read_csv(messy))
    assert (a.rows_scored, a.rows_rejected) == (b.rows_scored, b.rows_rejected) == (n - 3, 3)
    assert pd.read_csv(two)["rank"].tolist() == list(range(1, n - 2))


def test_blocks_beyond_the_open_file_limit_take_more_reads_of_the_spill(
    bundle, messy, tmp_path, monkeypatch
):
    whole, capped = tmp_path / "whole.csv", tmp_path / "capped.csv"
    score_leads(bundle, whole, as_of=AS_OF, source=messy, chunksize=1000, workers=1)
    monkeypatch.setattr(_ranking, "OPEN_FILES", 2)
    # About 225 rows in blocks of 50: five block files, two open at a time.
    score_leads(bundle, capped, as_of=AS_OF, source=messy, chunksize=50, workers=1)
    assert digest(whole) == digest(capped)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_whole_number_of_at_least_one(bundle, messy, tmp_path, workers):
    with pytest.raises(CRMPredictError, match="workers must be a whole number of at least 1"):
        score_leads(bundle, tmp_path / "s.csv", as_of=AS_OF, source=messy, workers=workers)
    assert not (tmp_path / "s.csv").exists()


def test_every_core_by_default():
    assert check_workers(None) == default_workers() >= 1
    assert check_workers(3) == 3


@pytest.mark.slow
def test_a_script_without_a_main_guard_gets_a_clear_error_not_a_hang(bundle, messy, tmp_path):
    """Each spawned worker imports the script, which asks for workers again: Python cannot
    start them, the workers die, and the script must stop with words, not wait forever."""
    model = tmp_path / "bundle.pkl"
    model.write_bytes(pickle.dumps(bundle))
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import pickle\n"
        "from crm_predict.scoring.batch import score_leads\n"
        f"bundle = pickle.loads(open({str(model)!r}, 'rb').read())\n"
        f"score_leads(bundle, {str(tmp_path / 'out.csv')!r}, as_of={AS_OF!r}, "
        f"source={str(messy)!r}, chunksize=50, workers=2)\n"
    )
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("crm_predict.exceptions.CRMPredictError: a scoring worker")
    assert "if __name__ == '__main__':" in last
    assert not (tmp_path / "out.csv").exists()
