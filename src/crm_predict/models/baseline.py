"""The honest baseline: logistic regression on one-hot categories and scaled numbers."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def logistic_baseline(random_state: int = 42, C: float = 1.0) -> Pipeline:
    """Return a logistic regression that reads the feature pipeline's output.

    Category columns are one-hot encoded (unseen levels ignored); numeric columns are
    median-imputed with a missing indicator and standardised.

    Parameters
    ----------
    random_state : int
        Seed for the solver.
    C : float
        Inverse regularisation strength.

    Returns
    -------
    Pipeline

    Examples
    --------
    >>> logistic_baseline().steps[-1][0]
    'logisticregression'
    """
    encode = ColumnTransformer(
        [
            (
                "categories",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                make_column_selector(dtype_include="category"),
            ),
            (
                "numbers",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                make_column_selector(dtype_include="number"),
            ),
        ]
    )
    return make_pipeline(encode, LogisticRegression(C=C, max_iter=3000, random_state=random_state))
