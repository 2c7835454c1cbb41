"""How good a model is: metrics, calibration, grades, plots, timing metrics, drift statistics."""

from crm_predict.evaluate.base_rate import (
    base_rate_drift,
)
from crm_predict.evaluate.calibration import (
    calibration_table,
    expected_calibration_error,
    lift_table,
)
from crm_predict.evaluate.compare import (
    paired_auc,
)
from crm_predict.evaluate.grades import (
    assign_grades,
    grade_table,
)
from crm_predict.evaluate.inputs import (
    check_outcomes,
    check_probabilities,
)
from crm_predict.evaluate.metrics import (
    classification_metrics,
    evaluate_predictions,
    segment_metrics,
)
from crm_predict.evaluate.plots import (
    plot_calibration,
    plot_lift,
)
from crm_predict.evaluate.profile import (
    monitored_fields,
    reference_profile,
)
from crm_predict.evaluate.psi import (
    Tally,
    as_levels,
    categorical_profile,
    numbers,
    numeric_profile,
    psi,
    status,
)
from crm_predict.evaluate.timing import (
    TimingOutcomes,
    compare_timing,
    design_matrix,
    evaluation_times,
)

__all__ = [
    "Tally",
    "TimingOutcomes",
    "as_levels",
    "assign_grades",
    "base_rate_drift",
    "calibration_table",
    "categorical_profile",
    "check_outcomes",
    "check_probabilities",
    "classification_metrics",
    "compare_timing",
    "design_matrix",
    "evaluate_predictions",
    "evaluation_times",
    "expected_calibration_error",
    "grade_table",
    "lift_table",
    "monitored_fields",
    "numbers",
    "numeric_profile",
    "paired_auc",
    "plot_calibration",
    "plot_lift",
    "psi",
    "reference_profile",
    "segment_metrics",
    "status",
]
