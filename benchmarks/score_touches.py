"""Scoring against a large Parquet touch table: whole-table read vs per-chunk reads.

Run ``python benchmarks/score_touches.py --leads 1000000 --touches 10000000`` from the
repository root. It trains the demo model (``configs/leads_demo.yaml``, with its touch
table), writes a lead list of ``--leads`` rows (CSV) and a Parquet touch table of
``--touches`` rows for those leads (about ten a lead, in random order: no row group can be
skipped, the worst case for the per-chunk scan), then scores the list twice, each time in a
fresh process with the same code as ``crm-predict score``:

* ``whole``: the touch table read into memory first (what scoring did before:
  ``read_table`` of the ``activities`` source, then cleaned whole);
* ``per chunk``: the config's Parquet touch table, read per chunk of 50,000 leads for those
  leads only (:class:`crm_predict.data.touches.ParquetTouches`).

Reports each process's wall time (and the part spent reading, cleaning and selecting
touches), rows/s and peak RSS, and checks that both score files are byte-identical. Prints a
markdown table. About 10 minutes on 2 cores at the default sizes (scoring with exact reasons
dominates); ``--leads 200000 --touches 2000000`` for a quick look.
"""

from __future__ import annotations

import argparse
import dataclasses
import filecmp
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crm_predict.config import load_config
from crm_predict.data.synthetic.leads import AS_OF, make_leads
from crm_predict.training.train import train_task
from score_file import write_lead_list  # benchmarks/ is on the path: this script's folder

CHUNK = 1_000_000


def write_touches(path: Path, rows: int, leads: int, seed: int = 5) -> None:
    """``rows`` touches resampled from a synthetic CRM, each given to one of ``leads`` leads."""
    pool = make_leads(50_000, seed=seed).activities[["timestamp", "type", "direction"]]
    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        part = pool.iloc[rng.integers(0, len(pool), n)].reset_index(drop=True)
        lead = pd.Series(rng.integers(0, leads, n)).astype(str).str.zfill(9)
        part.insert(0, "lead_id", "L" + lead)
        part.insert(0, "activity_id", [f"A{start + i:010d}" for i in range(n)])
        table = pa.Table.from_pandas(part, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def worker(mode: str, bundle_path: str, leads: str, output: str) -> None:
    """Score ``leads`` in this process; print a JSON line with times and peak RSS."""
    from crm_predict.data.io import read_table
    from crm_predict.scoring import scorer
    from crm_predict.scoring.batch import score_leads

    with open(bundle_path, "rb") as fh:
        bundle = pickle.load(fh)
    touch_s = [0.0]  # reading, cleaning and selecting touches, whichever the path
    opened = scorer.open_touches  # what the frame builder opens the touch table with

    def timed_open(*args, **kwargs):
        begin = time.perf_counter()
        source = opened(*args, **kwargs)
        per_chunk = source.touches_for

        def touches_for(ids):
            begin = time.perf_counter()
            out = per_chunk(ids)
            touch_s[0] += time.perf_counter() - begin
            return out

        source.touches_for = touches_for
        touch_s[0] += time.perf_counter() - begin
        return source

    scorer.open_touches = timed_open
    start = time.perf_counter()
    acts = read_table(bundle.config.activities) if mode == "whole" else None
    touch_s[0] += time.perf_counter() - start
    summary = score_leads(
        bundle, output, as_of=AS_OF, source=leads, chunksize=50_000, activities=acts
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"rows": summary.rows_scored, "seconds": seconds, "touch_s": touch_s[0]}
    print(json.dumps({**result, "peak_mib": peak}))


def main() -> None:
    """Train, write the lead list and touch table, score twice in child processes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--touches", type=int, default=10_000_000)
    parser.add_argument("--worker", nargs=4, metavar=("MODE", "BUNDLE", "LEADS", "OUTPUT"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    config = load_config("configs/leads_demo.yaml")
    bundle = train_task(config, quiet=True).models["gbm"].bundle
    with tempfile.TemporaryDirectory(prefix="score-touches-") as tmp:
        folder = Path(tmp)
        leads, touches = folder / "leads.csv", folder / "touches.parquet"
        spec = config.activities.model_copy(update={"synthetic": None, "path": touches})
        bundle = dataclasses.replace(
            bundle, config=bundle.config.model_copy(update={"activities": spec})
        )
        bundle_path = folder / "bundle.pkl"
        bundle_path.write_bytes(pickle.dumps(bundle))
        start = time.perf_counter()
        write_lead_list(leads, args.leads)
        write_touches(touches, args.touches, args.leads)
        print(f"inputs written in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        results = {}
        for mode in ("whole", "chunked"):
            child = subprocess.run(
                [sys.executable, __file__, "--worker", mode, str(bundle_path), str(leads)]
                + [str(folder / f"{mode}.csv")],
                capture_output=True,
                text=True,
                check=True,
            )
            results[mode] = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"{mode}: {results[mode]}", file=sys.stderr)
        same = filecmp.cmp(folder / "whole.csv", folder / "chunked.csv", shallow=False)
        mib = touches.stat().st_size / 2**20
    print(f"touch table: {args.touches:,} rows, {mib:,.0f} MiB Parquet; identical files: {same}")
    print()
    print("| touch table read | leads | seconds | of which touches | rows/s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for mode, label in (("whole", "whole, in memory"), ("chunked", "per chunk (Parquet scan)")):
        r = results[mode]
        print(
            f"| {label} | {r['rows']:,} | {r['seconds']:.0f} | {r['touch_s']:.0f} | "
            f"{r['rows'] / r['seconds']:,.0f} | {r['peak_mib']:,.0f} |"
        )


if __name__ == "__main__":
    main()
