"""The honest baseline: logistic regression on one-hot categories and scaled numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted


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


class LogisticBaseline(ClassifierMixin, BaseEstimator):
    """The baseline as a model of its own: :func:`logistic_baseline`, explainable exactly.

    Keeps the mean of its encoded training columns, so that each field's contribution is
    coefficient × distance from the average lead (as for the blend's logistic part), and
    ``train`` can register it as the champion when it has the best evidence.

    Parameters
    ----------
    C : float
        Inverse regularisation strength.
    random_state : int
        Seed for the solver.

    Attributes
    ----------
    linear_ : Pipeline
        The fitted encoder and logistic regression.
    linear_mean_ : ndarray
        Mean of the encoded training columns.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"calls": np.arange(40.0)})
    >>> model = LogisticBaseline().fit(X, (X["calls"] > 20).astype(int))
    >>> model.predict_proba(X).shape
    (40, 2)
    """

    def __init__(self, C: float = 1.0, random_state: int = 42) -> None:
        self.C = C
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y) -> LogisticBaseline:
        """Fit the encoder and the regression; remember the encoded training mean."""
        self.linear_ = logistic_baseline(random_state=self.random_state, C=self.C).fit(X, y)
        self.classes_ = self.linear_.classes_
        encoded = np.asarray(self.linear_[:-1].transform(X), dtype=float)
        self.linear_mean_ = encoded.mean(axis=0)
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of the positive class."""
        check_is_fitted(self, "linear_")
        return self.linear_.decision_function(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities, shape ``(n, 2)``."""
        check_is_fitted(self, "linear_")
        return self.linear_.predict_proba(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The more likely class."""
        check_is_fitted(self, "linear_")
        return self.linear_.predict(X)
