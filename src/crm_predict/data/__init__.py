"""Reading CRM exports and shaping them into a task: files, SQL, schema, joins, touches,
splits, survival durations and the synthetic generators."""

from crm_predict.data.churn import (
    churn_outcome,
    churn_snapshot,
    read_churn_tables,
)
from crm_predict.data.dates import (
    ParsedDates,
    implausible,
    parse_dates,
)
from crm_predict.data.exports import (
    write_leads,
)
from crm_predict.data.files import (
    atomic_path,
    check_output,
    neutralise_formulas,
    remove_stale_temps,
    require_excel,
    spill_folder,
    umask_mode,
    writable_folder,
)
from crm_predict.data.folds import (
    fold_rows,
    rolling_origin_folds,
)
from crm_predict.data.io import (
    detect_format,
    iter_file,
    read_file,
    read_table,
    write_table,
)
from crm_predict.data.leadlist import (
    ReadOptions,
    RowChecker,
    check_header,
    needed_columns,
    not_a_lead,
    read_lead_list,
)
from crm_predict.data.loading import (
    TaskData,
    apply_joins,
    load_task_data,
    read_join_tables,
)
from crm_predict.data.profile import (
    DataProfile,
    class_balance,
    profile_task,
)
from crm_predict.data.schema import (
    as_text,
    blank_columns,
    clean_text,
    closed_before_created,
    coerce_dates,
    coerce_numbers,
    id_problems,
    id_text,
    missing_column_problems,
    outcome_of,
    to_dates,
    to_numbers,
)
from crm_predict.data.split import (
    Split,
    split_method,
    split_task,
    training_labels,
    validation_folds,
)
from crm_predict.data.survival import (
    SurvivalData,
    require_time_columns,
    survival_data,
)
from crm_predict.data.touches import (
    FrameTouches,
    ParquetTouches,
    SQLTouches,
    TouchSource,
    activity_requests,
    open_touches,
)

__all__ = [
    "DataProfile",
    "FrameTouches",
    "ParquetTouches",
    "ParsedDates",
    "ReadOptions",
    "RowChecker",
    "SQLTouches",
    "Split",
    "SurvivalData",
    "TaskData",
    "TouchSource",
    "activity_requests",
    "apply_joins",
    "as_text",
    "atomic_path",
    "blank_columns",
    "check_header",
    "check_output",
    "churn_outcome",
    "churn_snapshot",
    "class_balance",
    "clean_text",
    "closed_before_created",
    "coerce_dates",
    "coerce_numbers",
    "detect_format",
    "fold_rows",
    "id_problems",
    "id_text",
    "implausible",
    "iter_file",
    "load_task_data",
    "missing_column_problems",
    "needed_columns",
    "neutralise_formulas",
    "not_a_lead",
    "open_touches",
    "outcome_of",
    "parse_dates",
    "profile_task",
    "read_churn_tables",
    "read_file",
    "read_join_tables",
    "read_lead_list",
    "read_table",
    "remove_stale_temps",
    "require_excel",
    "require_time_columns",
    "rolling_origin_folds",
    "spill_folder",
    "split_method",
    "split_task",
    "survival_data",
    "to_dates",
    "to_numbers",
    "training_labels",
    "umask_mode",
    "validation_folds",
    "writable_folder",
    "write_leads",
    "write_table",
]
