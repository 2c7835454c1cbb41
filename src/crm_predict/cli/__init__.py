"""The ``crm-predict`` command line (Typer): thin commands over the library."""

from crm_predict.cli.app import (
    demo,
    export,
    main,
    report,
    score,
    train,
    validate,
)
from crm_predict.cli.common import (
    as_of_date,
    fmt,
    friendly,
    read_options,
)
from crm_predict.cli.lifecycle import (
    monitor,
    retrain,
    tune,
)

__all__ = [
    "as_of_date",
    "demo",
    "export",
    "fmt",
    "friendly",
    "main",
    "monitor",
    "read_options",
    "report",
    "retrain",
    "score",
    "train",
    "tune",
    "validate",
]
