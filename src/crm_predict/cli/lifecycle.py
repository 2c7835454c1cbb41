"""The model lifecycle commands of ``crm-predict``: tune, monitor and retrain.

Thin wrappers over :func:`crm_predict.lifecycle.tune.tune_task`,
:func:`crm_predict.lifecycle.monitor.monitor_leads` and
:func:`crm_predict.lifecycle.retrain.retrain_task` (house rule 8); :mod:`crm_predict.cli.app`
registers them on its Typer app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from crm_predict.cli.common import (
    AsOf,
    DateFormat,
    Encoding,
    Quiet,
    Sep,
    Strict,
    TrackingUri,
    alias,
    as_of_date,
    console,
    err_console,
    fmt,
    friendly,
    read_options,
)
from crm_predict.exceptions import CRMPredictError


@friendly
def tune(
    config: Annotated[Path, typer.Argument(help="Task YAML; its tuning section is the space.")],
    trials: Annotated[int, typer.Option(help="Trials this worker runs.")] = 30,
    timeout: Annotated[
        float | None, typer.Option(help="Stop starting new trials after this many seconds.")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Study storage URL, e.g. postgresql://user@host/optuna to share a study "
            "between machines (default: sqlite file optuna.db in --output)."
        ),
    ] = None,
    study: Annotated[str | None, typer.Option(help="Study name (default: <task>-gbm).")] = None,
    worker: Annotated[
        int, typer.Option(help="This worker's number; give each parallel worker its own.")
    ] = 0,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder of the default study, MLflow store and overlay (default: .); a path "
            "ending in .yaml is the overlay itself.",
        ),
    ] = None,
    overlay: Annotated[
        Path | None,
        typer.Option(
            help="Overlay YAML with the best parameters (default: <output>/<config>.tuned.yaml)."
        ),
    ] = None,
    output_dir: Annotated[Path | None, typer.Option(hidden=True)] = None,
    tracking_uri: TrackingUri = None,
    quiet: Quiet = False,
) -> None:
    """Tune the LightGBM model with Optuna (resumable, shareable study); write the best overlay."""
    from crm_predict.config import load_config
    from crm_predict.data.files import writable_folder
    from crm_predict.lifecycle.tune import tune_task

    if output is not None and output.suffix.lower() in (".yaml", ".yml"):
        # Before --output named the folder, it named the overlay: such a call still works.
        if overlay is not None and overlay != output:
            raise CRMPredictError(f"--output {output} and --overlay {overlay}: give one overlay")
        output, overlay = None, output
    cfg = load_config(config)
    result = tune_task(
        cfg,
        n_trials=trials,
        timeout=timeout,
        storage=storage,
        study_name=study,
        config_path=config,
        output=overlay,
        workdir=writable_folder(alias(output, output_dir, Path("."))),
        tracking_uri=tracking_uri,
        worker=worker,
        quiet=quiet,
    )
    table = Table(title=f"Study {result.study_name}: best of {result.trials_total} trials")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for key, value in sorted(result.best_params.items()):
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    defaults = fmt(result.default_value, 4)
    console.print(
        f"validation log loss: best {result.best_value:.4f} (trial {result.best_trial}), "
        f"defaults {defaults}; this run: {result.trials_run} trials, "
        f"{result.pruned} pruned in the study, {result.seconds:.0f} s"
    )
    if result.overlay is not None:
        console.print(
            f"overlay written to {result.overlay}; train with: crm-predict train {result.overlay}"
        )


@friendly
def monitor(
    model: Annotated[
        str, typer.Option(help="MLflow model URI, e.g. models:/leads_demo@champion, or a folder.")
    ],
    input: Annotated[Path, typer.Option(help="Lead list: .csv, .parquet or .xlsx.")],
    as_of: AsOf = None,
    fail_above: Annotated[
        float | None,
        typer.Option(help="Exit with code 1 when a field's or the score's PSI exceeds this."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the result as JSON here (.json)."),
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", hidden=True)] = None,
    tracking_uri: TrackingUri = None,
    sep: Sep = None,
    encoding: Encoding = None,
    date_format: DateFormat = None,
    strict: Strict = False,
    quiet: Quiet = False,
) -> None:
    """Check a lead list for drift against the model's training leads (PSI per field)."""
    from crm_predict.data.files import check_output
    from crm_predict.lifecycle.monitor import drift_table, monitor_leads, write_drift_json
    from crm_predict.progress import rows
    from crm_predict.tracking import load_task_models

    json_path = alias(output, json_path)
    day = as_of_date(as_of)
    options = read_options(sep, encoding, date_format, strict)
    if json_path is not None:
        check_output(json_path, [input], ("json",))
    # Drift is measured against the main model's training profile: no companions needed.
    models = load_task_models(model, tracking_uri, companions=False)
    records = models.config.records
    with rows(f"reading {records}", quiet=quiet) as advance:
        result = monitor_leads(models, input, day, progress=advance, options=options)
    console.print(drift_table(result, records=records))
    for row in result.flagged().to_dict("records"):
        if row["new_levels"]:
            console.print(f"new in {row['field']}: {escape(', '.join(row['new_levels'][:10]))}")
        if row["vanished_levels"]:
            console.print(
                f"gone from {row['field']}: {escape(', '.join(row['vanished_levels'][:10]))}"
            )
    if json_path is not None:
        console.print(f"drift written to {write_drift_json(result, json_path)}")
    if fail_above is not None and result.exceeds(fail_above):
        err_console.print(
            f"[bold red]drift:[/] largest PSI {result.max_psi:.3f} is above {fail_above}"
        )
        raise typer.Exit(1)


@friendly
def retrain(
    config: Annotated[Path, typer.Argument(help="Task YAML (the latest data).")],
    dry_run: Annotated[
        bool, typer.Option(help="Decide and report; log, register and move nothing.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder of the default MLflow store (default: .)."),
    ] = None,
    output_dir: Annotated[Path | None, typer.Option(hidden=True)] = None,
    tracking_uri: TrackingUri = None,
    quiet: Quiet = False,
) -> None:
    """Train a challenger; promote it to champion only if it is not worse than the champion."""
    from crm_predict.config import load_config
    from crm_predict.lifecycle.retrain import retrain_task

    output_dir = alias(output, output_dir, Path("."))
    cfg = load_config(config)
    result = retrain_task(
        cfg, dry_run=dry_run, tracking_uri=tracking_uri, workdir=output_dir, quiet=quiet
    )
    rows = f"{result.holdout['rows']:,} holdout {cfg.records}"
    table = Table(title=f"Challenger vs champion ({rows})")
    for col in ("check", "challenger", "champion", "limit", "passed"):
        table.add_column(col, justify="left" if col == "check" else "right")
    for c in result.checks:
        table.add_row(
            c["check"],
            fmt(c["challenger"], 4),
            fmt(c["champion"], 4),
            fmt(c["limit"], 4),
            "[green]yes[/]" if c["passed"] else "[red]no[/]",
        )
    console.print(table)
    verb = {"promote": "promoted", "keep": "kept the champion", "first": "first champion"}
    prefix = "dry run, would have: " if dry_run else ""
    console.print(f"[bold]{prefix}{verb[result.decision]}[/]")
    for reason in result.reasons:
        console.print(f"  • {escape(reason)}", highlight=False)
    for key in ("registered_model_uri", "champion_version", "previous_champion_version"):
        if result.tracking.get(key):
            console.print(f"{key}: {result.tracking[key]}")
