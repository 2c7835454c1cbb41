"""End-to-end `score_leads` on a large CSV lead list: rows/s and peak memory.

Run ``python benchmarks/score_file.py --rows 10000000`` from the repository root. It trains
the demo model (``configs/leads_demo.yaml`` without its touch table: the touch table is
held in memory whole, so its size, not the lead list's, would set the peak), writes a lead
list of ``--rows`` rows (the synthetic CRM's leads resampled with fresh ids, written chunk
by chunk), then scores it in a fresh process with the same code as ``crm-predict score``
(validation, joins, exact grouped reasons, ranking, atomic CSV output) and reports that
process's peak RSS. Prints a markdown row.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from crm_predict.config import load_config
from crm_predict.data.synthetic.leads import AS_OF, make_leads
from crm_predict.training.train import train_task

CHUNK = 250_000


def write_lead_list(path: Path, rows: int, seed: int = 3) -> None:
    """``rows`` leads resampled from a synthetic CRM, with unique ids, written in chunks."""
    pool = make_leads(50_000, seed=seed).leads
    rng = np.random.default_rng(seed)
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        part = pool.iloc[rng.integers(0, len(pool), n)].copy()
        part["lead_id"] = [f"L{start + i:09d}" for i in range(n)]
        part.to_csv(path, mode="a", header=start == 0, index=False)


def worker(bundle_path: str, leads: str, output: str) -> None:
    """Score ``leads`` in this process and print a JSON line with time and peak RSS."""
    from crm_predict.scoring.batch import score_leads

    with open(bundle_path, "rb") as fh:
        bundle = pickle.load(fh)
    start = time.perf_counter()
    summary = score_leads(bundle, output, as_of=AS_OF, source=leads, chunksize=50_000)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": summary.rows_scored, "seconds": seconds, "peak_mib": peak}))


def main() -> None:
    """Train, write the lead list, score it in a child process, print the table row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--worker", nargs=3, metavar=("BUNDLE", "LEADS", "OUTPUT"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    config = load_config("configs/leads_demo.yaml").model_copy(update={"activities": None})
    bundle = train_task(config, quiet=True).models["gbm"].bundle
    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        folder = Path(tmp)
        bundle_path, leads = folder / "bundle.pkl", folder / "leads.csv"
        bundle_path.write_bytes(pickle.dumps(bundle))
        start = time.perf_counter()
        write_lead_list(leads, args.rows)
        print(f"lead list written in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        child = subprocess.run(
            [sys.executable, __file__, "--worker", str(bundle_path), str(leads)]
            + [str(folder / "scored.csv")],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(child.stdout.strip().splitlines()[-1])
        mib = leads.stat().st_size / 2**20
    print("| rows | CSV MiB | seconds | rows/s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    print(
        f"| {r['rows']:,} | {mib:,.0f} | {r['seconds']:.0f} | "
        f"{r['rows'] / r['seconds']:,.0f} | {r['peak_mib']:,.0f} |"
    )


if __name__ == "__main__":
    main()
