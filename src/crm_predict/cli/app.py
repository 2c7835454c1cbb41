"""The ``crm-predict`` command line: thin wrappers over library functions (house rule 8).

One Typer app: the commands from data to report are here; the lifecycle commands (tune,
monitor, retrain) live in :mod:`crm_predict.cli.lifecycle` and the shared options and error
display in :mod:`crm_predict.cli.common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from crm_predict.cli.common import (
    AsOf,
    Chunksize,
    Command,
    DateFormat,
    Encoding,
    Group,
    Quiet,
    Sep,
    Strict,
    TrackingUri,
    Verbose,
    Version,
    Workers,
    alias,
    as_of_date,
    console,
    err_console,
    friendly,
    read_options,
    setup_output,
)
from crm_predict.cli.lifecycle import monitor, retrain, tune
from crm_predict.cli.summary import headline, metrics_table, segment_table, timing_table
from crm_predict.exceptions import CRMPredictError

app = typer.Typer(
    cls=Group,
    help="Turn CRM records into predictions people act on.",
    no_args_is_help=True,
    add_completion=False,
    epilog="Example: crm-predict demo --output demo_output",
)


@app.callback()
def _options(verbose: Verbose = False, version: Version = False) -> None:
    """Turn CRM records into predictions people act on."""
    setup_output(verbose)


@app.command(cls=Command, epilog="Example: crm-predict validate configs/leads_demo.yaml")
@friendly
def validate(
    config: Annotated[Path, typer.Argument(help="Task YAML, e.g. configs/leads_demo.yaml.")],
) -> None:
    """Read and validate a task's data; report counts, balance, missing values and leaks."""
    from crm_predict.config import load_config
    from crm_predict.data.loading import load_task_data
    from crm_predict.data.profile import class_balance, profile_task

    cfg = load_config(config)
    data = load_task_data(cfg)
    prof = profile_task(data, cfg)
    console.print(f"[bold]{cfg.name}[/]: {prof.rows:,} records from {cfg.source.describe()}")
    o = prof.outcomes
    console.print(
        f"outcomes: {o['positive']:,} positive, {o['negative']:,} negative, "
        f"{o['open']:,} open (censored, not negatives); "
        f"positive share among closed: {class_balance(o):.1%}"
    )
    if prof.date_range:
        first, last = prof.date_range
        console.print(f"created {first:%Y-%m-%d} to {last:%Y-%m-%d}; as of {prof.as_of:%Y-%m-%d}")
    if prof.notes:
        console.print("[bold]cleaned on the way:[/]")
        for note in prof.notes:
            console.print(f"  • {escape(note)}", highlight=False)
    if len(prof.missing):
        table = Table(title="Missing values (share of rows)")
        table.add_column("column")
        table.add_column("missing", justify="right")
        for col, share in prof.missing.head(15).items():
            table.add_row(str(col), f"{share:.1%}")
        console.print(table)
    if prof.leakage:
        console.print("[bold yellow]leakage suspects:[/]")
        for line in prof.leakage:
            console.print(f"  ⚠ {escape(line)}", highlight=False)
    else:
        console.print("no leakage suspects found")


@app.command(
    cls=Command,
    epilog="Example: crm-predict train configs/leads_demo.yaml --output runs/leads "
    "--tracking-uri sqlite:////srv/crm/mlflow.db",
)
@friendly
def train(
    config: Annotated[Path, typer.Argument(help="Task YAML.")],
    tracking_uri: TrackingUri = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Folder of metrics.json and of the default store (default: .)."
        ),
    ] = None,
    output_dir: Annotated[Path | None, typer.Option(hidden=True)] = None,
    models: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated models to fit besides the baseline: gbm,bayes,timing "
            "(default: gbm, plus timing when the config has time.created and time.closed)."
        ),
    ] = None,
    register: Annotated[bool, typer.Option(help="Register the model in MLflow.")] = True,
    strict: Annotated[
        bool, typer.Option(help="Exit with code 3 when the Bayesian model did not converge.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Train, evaluate on a time-ordered holdout, log to MLflow and register the model."""
    from crm_predict.config import load_config
    from crm_predict.data.files import writable_folder
    from crm_predict.tracking import log_training
    from crm_predict.training.train import default_models, train_task, write_metrics

    output_dir = alias(output, output_dir, Path("."))
    cfg = load_config(config)
    # Checked before training: a model must not be registered when its metrics cannot be.
    writable_folder(output_dir)
    chosen = (
        tuple(m.strip() for m in models.split(",") if m.strip())
        if models is not None
        else default_models(cfg)
    )
    optional = ("timing",) if models is None else ()
    result = train_task(cfg, models=chosen, quiet=quiet, optional=optional)
    uris = log_training(result, tracking_uri=tracking_uri, register=register, workdir=output_dir)
    path = write_metrics(result, output_dir)
    summary = result.summary()
    console.print(f"split: {result.split.description}")
    console.print(metrics_table(summary, list(result.models)))
    if summary["segments"]:
        console.print(segment_table(summary))
    if result.selection is not None:
        console.print(f"champion: {result.selection.reason}")
        if result.selection.warning:
            err_console.print(f"[bold yellow]warning:[/] {result.selection.warning}")
    if result.drift is not None and result.drift["drifted"]:
        err_console.print(f"[bold yellow]warning:[/] {result.drift['message']}")
    for note in result.notes:
        console.print(f"note: {note}")
    if result.timing is not None:
        churn = result.config.is_churn
        console.print(timing_table(result.timing.comparison, churn=churn))
        if "timing_registered_model_uri" in summary:
            console.print(f"timing_registered_model_uri: {summary['timing_registered_model_uri']}")
    console.print(f"metrics written to {path}")
    converged = True
    if "bayes" in result.models:
        diag = result.models["bayes"].pipeline[-1].diagnostics()
        if not diag["converged"]:
            from crm_predict.models.bayes.outputs import convergence_advice

            converged = False
            advice = convergence_advice(diag)
            err_console.print(f"[bold yellow]warning:[/] Bayesian model: {escape(advice)}")
    for line in headline(summary, uris.get("tracking_uri")):
        console.print(f"[bold]{escape(line)}[/]", highlight=False)
    if strict and not converged:
        raise typer.Exit(3)


@app.command(
    cls=Command,
    epilog="Example: crm-predict score --model models:/leads_demo@champion "
    "--tracking-uri sqlite:////srv/crm/mlflow.db --input open_leads.csv --output scored.xlsx",
)
@friendly
def score(
    model: Annotated[
        str,
        typer.Option(
            help="MLflow model URI, e.g. models:/leads_demo@champion, or a local model folder."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Score list, in rank order: .csv, .parquet or .xlsx."),
    ],
    input: Annotated[Path | None, typer.Option(help="Lead list: .csv, .parquet or .xlsx.")] = None,
    sql_url: Annotated[str | None, typer.Option(help="Read leads from this database.")] = None,
    query: Annotated[str | None, typer.Option(help="SELECT for --sql-url.")] = None,
    sql_table: Annotated[
        str | None, typer.Option(help="Also upsert the scores into this --sql-url table.")
    ] = None,
    as_of: AsOf = None,
    tracking_uri: TrackingUri = None,
    chunksize: Chunksize = 50_000,
    workers: Workers = None,
    interval_model: Annotated[
        str | None,
        typer.Option(
            help="Bayesian model giving p_low/p_high (default: <name>-bayes with the same "
            "alias, when registered)."
        ),
    ] = None,
    timing_model: Annotated[
        str | None,
        typer.Option(
            help="Time-to-convert model giving p_convert_<h>d, p_ever and expected_days "
            "(default: <name>-timing with the same alias, when registered)."
        ),
    ] = None,
    sep: Sep = None,
    encoding: Encoding = None,
    date_format: DateFormat = None,
    strict: Strict = False,
    escape_formulas: Annotated[
        bool,
        typer.Option(
            help="Prefix text cells starting with = + - @ with ' in CSV and Excel output, "
            "so a spreadsheet shows them instead of running them as formulas."
        ),
    ] = True,
    excel_bom: Annotated[
        bool,
        typer.Option(
            help="Start a CSV with a UTF-8 byte order mark, so Excel shows accents right "
            "(Müller, not MÃ¼ller); --no-excel-bom for a pipeline whose reader keeps it."
        ),
    ] = True,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print nothing on success: no progress bar, no summary."
        ),
    ] = False,
) -> None:
    """Score a lead list: probability, interval, grade, rank and reasons for every lead."""
    from crm_predict.data.files import check_output
    from crm_predict.progress import rows
    from crm_predict.scoring.batch import rejected_path, score_leads
    from crm_predict.tracking import load_task_models

    day = as_of_date(as_of)
    options = read_options(sep, encoding, date_format, strict)
    check_output(output, [input] if input else [], ("csv", "parquet", "excel"))
    check_output(rejected_path(output), [input] if input else [], ("csv",))
    models = load_task_models(
        model, tracking_uri, bayes_uri=interval_model, timing_uri=timing_model
    )
    with rows("scoring", quiet=quiet) as advance:
        summary = score_leads(
            models,
            output,
            as_of=day,
            source=input,
            sql_url=sql_url,
            query=query,
            sql_table=sql_table,
            chunksize=chunksize,
            progress=advance,
            options=options,
            escape_formulas=escape_formulas,
            excel_bom=excel_bom,
            workers=workers,
        )
    if quiet:  # a cron job's log: the file and the exit code say it all
        return
    if "timing" in models.sources:
        console.print(f"horizon columns from {models.sources['timing']}")
    if "bayes" in models.sources:
        console.print(f"interval p_low/p_high from {models.sources['bayes']}")
    console.print(
        f"scored {summary.rows_scored:,} of {summary.rows_read:,} {models.config.records} in "
        f"{summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s) → {summary.output}"
    )
    if summary.rejected:
        console.print(
            f"[yellow]{summary.rows_rejected:,} rows could not be scored[/]; "
            f"reasons in {summary.rejected}"
        )


@app.command(
    cls=Command,
    epilog="Example: crm-predict export --model models:/leads_demo@champion "
    "--output models/leads_demo",
)
@friendly
def export(
    model: Annotated[str, typer.Option(help="MLflow model URI, e.g. models:/leads_demo@champion.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Target folder, e.g. models/leads_demo."),
    ] = None,
    to: Annotated[Path | None, typer.Option(hidden=True)] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Write a registered model as a self-contained MLflow model folder (no tracking store)."""
    from crm_predict.tracking import export_model

    target = alias(output, to)
    if target is None:
        raise CRMPredictError("give the target folder: --output models/<name>")
    path = export_model(model, target, tracking_uri)
    console.print(f"exported {model} to {path}; score with --model {path}")


@app.command(
    cls=Command,
    epilog="Example: crm-predict report --model models:/leads_demo@champion "
    "--input open_leads.csv --output report.html",
)
@friendly
def report(
    model: Annotated[
        str,
        typer.Option(
            help="MLflow model URI, e.g. models:/leads_demo@champion, or a local model folder."
        ),
    ],
    input: Annotated[Path, typer.Option(help="Lead list: .csv, .parquet or .xlsx.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML report.")] = Path(
        "report.html"
    ),
    as_of: AsOf = None,
    top: Annotated[int, typer.Option(help="Leads in the 'calls to make' list.")] = 25,
    tracking_uri: TrackingUri = None,
    drift: Annotated[
        Path | None, typer.Option(help="Drift JSON from crm-predict monitor --json, shown too.")
    ] = None,
    sep: Sep = None,
    encoding: Encoding = None,
    date_format: DateFormat = None,
    strict: Strict = False,
) -> None:
    """Write a self-contained HTML report for sales managers: calls to make, why, how good."""
    from crm_predict.data.files import check_output
    from crm_predict.report import write_report
    from crm_predict.tracking import load_task_models

    day = as_of_date(as_of)
    options = read_options(sep, encoding, date_format, strict)
    check_output(output, [input], ("html",))
    models = load_task_models(model, tracking_uri)
    drift_data = None
    if drift is not None:
        import json

        try:
            drift_data = json.loads(drift.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CRMPredictError(
                f"--drift {drift} is not the JSON of monitor --json: {exc}"
            ) from None
    path = write_report(
        models, input, output, as_of=day, top=top, drift=drift_data, options=options
    )
    console.print(f"report written to {path}")


@app.command(cls=Command, epilog="Example: crm-predict demo --output demo_output --n-leads 5000")
@friendly
def demo(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder for the demo's files (default: demo_output)."),
    ] = None,
    workdir: Annotated[Path | None, typer.Option(hidden=True)] = None,
    n_leads: Annotated[int, typer.Option(help="Synthetic leads to generate.")] = 20_000,
    quiet: Quiet = False,
) -> None:
    """Generate synthetic CRM data, validate, train and register a model, score and report."""
    import json

    from crm_predict.demo import run_demo

    folder = alias(output, workdir, Path("demo_output"))
    outputs = run_demo(folder, n_leads=n_leads, quiet=quiet)
    names = ", ".join(p.name for p in outputs.values())
    console.print(f"wrote in {outputs['report'].parent}: {names}", highlight=False)
    summary = json.loads(outputs["metrics"].read_text(encoding="utf-8"))
    store = f"sqlite:///{outputs['mlflow']}"
    for line in headline(summary, store, report=outputs["report"]):
        console.print(f"[bold]{escape(line)}[/]", highlight=False)


# Registered after demo so that --help lists the commands in the order a user meets them.
app.command(cls=Command, epilog="Example: crm-predict tune configs/leads_demo.yaml --trials 30")(
    tune
)
app.command(
    cls=Command,
    epilog="Example: crm-predict monitor --model models:/leads_demo@champion "
    "--input open_leads.csv --fail-above 0.25 --output drift.json",
)(monitor)
app.command(
    cls=Command,
    epilog="Example: crm-predict retrain configs/leads_demo.yaml "
    "--tracking-uri sqlite:////srv/crm/mlflow.db --dry-run",
)(retrain)


def main() -> None:
    """Entry point for ``python -m crm_predict``."""
    app()
