"""End-to-end `score_leads` on a large CSV lead list: rows/s and peak memory.

Run ``python benchmarks/score_file.py --rows 10000000`` from the repository root. It trains
the demo model (``configs/leads_demo.yaml`` without its touch table: the touch table is
held in memory whole, so its size, not the lead list's, would set the peak), writes a lead
list of ``--rows`` rows (the synthetic CRM's leads resampled with fresh ids, written chunk
by chunk), then scores it in a fresh process with the same code as ``crm-predict score``
(validation, joins, exact grouped reasons, ranking, atomic CSV output) and reports that
process's peak RSS. ``--workers 1,2`` scores the same list once per number of worker
processes (``score --workers``), and also reports the peak of the main process and its
workers together (their RSS and their PSS summed, sampled every 0.2 s from ``/proc``, so
Linux only), the CPU seconds of the main process and its workers together (user + system:
on a shared machine they say more than the wall seconds), the load average before and
after, and the output's SHA-256, which must be the same for every number. Prints a
markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from crm_predict.config import load_config
from crm_predict.data.synthetic.leads import AS_OF, make_leads

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


def worker(bundle_path: str, leads: str, output: str, workers: str) -> None:
    """Score ``leads`` in this process and print a JSON line with time and peak RSS."""
    from crm_predict.scoring.batch import score_leads

    with open(bundle_path, "rb") as fh:
        bundle = pickle.load(fh)
    start = time.perf_counter()
    summary = score_leads(
        bundle, output, as_of=AS_OF, source=leads, chunksize=50_000, workers=int(workers)
    )
    seconds = time.perf_counter() - start
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime  # workers once ended
    peak = me.ru_maxrss / 1024
    print(
        json.dumps(
            {"rows": summary.rows_scored, "seconds": seconds, "peak_mib": peak, "cpu_s": cpu}
        )
    )


def _tree_memory(pid: int) -> tuple[int, int]:
    """Bytes of RSS and of PSS of ``pid`` and every process below it (0 once gone).

    RSS counts the pages processes share (library code) once per process; PSS splits
    them between the sharers, so its sum is what the tree takes from the machine.
    """
    rss = pss = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        for line in rollup.splitlines():
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                kib = int(rest.split()[0]) * 1024
                rss, pss = (rss + kib, pss) if key == "Rss" else (rss, pss + kib)
        todo += [int(k) for k in kids]
    return rss, pss


def score_in_child(bundle: Path, leads: Path, output: Path, workers: int) -> dict:
    """Run :func:`worker` in a fresh process; add the peak RSS of its process tree."""
    cmd = [sys.executable, __file__, "--worker", str(bundle), str(leads), str(output)]
    child = subprocess.Popen(
        [*cmd, str(workers)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = [0, 0]

    def sample() -> None:
        while child.poll() is None:
            rss, pss = _tree_memory(child.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    load = os.getloadavg()[0]
    sampler.start()
    out, err = child.communicate()
    sampler.join()
    if child.returncode:
        raise RuntimeError(err)
    r = json.loads(out.strip().splitlines()[-1])
    r["tree_mib"], r["tree_pss_mib"] = peak[0] / 2**20, peak[1] / 2**20
    r["sha256"] = hashlib.sha256(output.read_bytes()).hexdigest()
    r["load"] = f"{load:.1f} → {os.getloadavg()[0]:.1f}"
    return r


def main() -> None:
    """Train, write the lead list, score it in a child process, print the table row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1", help="comma-separated, e.g. 1,2")
    parser.add_argument("--worker", nargs=4, metavar=("BUNDLE", "LEADS", "OUTPUT", "N"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    # Here, not at the top: each scoring worker imports this script, and should hold what
    # a worker of `crm-predict score` holds, not the training stack.
    from crm_predict.training.train import train_task

    config = load_config("configs/leads_demo.yaml").model_copy(update={"activities": None})
    bundle = train_task(config, quiet=True).models["gbm"].bundle
    rows = []
    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        folder = Path(tmp)
        bundle_path, leads = folder / "bundle.pkl", folder / "leads.csv"
        bundle_path.write_bytes(pickle.dumps(bundle))
        start = time.perf_counter()
        write_lead_list(leads, args.rows)
        print(f"lead list written in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        mib = leads.stat().st_size / 2**20
        for n in [int(w) for w in args.workers.split(",")]:
            output = folder / "scored.csv"
            r = score_in_child(bundle_path, leads, output, n)
            output.unlink()
            rows.append((n, r))
    print(
        "| rows | CSV MiB | workers | seconds | rows/s | cpu s | load avg | peak RSS MiB (main) | "
        "main + workers: peak RSS MiB, summed | peak PSS MiB, summed | output SHA-256 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, r in rows:
        print(
            f"| {r['rows']:,} | {mib:,.0f} | {n} | {r['seconds']:.0f} | "
            f"{r['rows'] / r['seconds']:,.0f} | {r['cpu_s']:.0f} | {r['load']} | "
            f"{r['peak_mib']:,.0f} | {r['tree_mib']:,.0f} | {r['tree_pss_mib']:,.0f} | "
            f"`{r['sha256'][:16]}` |"
        )


if __name__ == "__main__":
    main()
