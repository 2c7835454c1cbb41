"""Errors that speak CRM: each names the column, the config key or the row that is wrong."""

from __future__ import annotations


class CRMPredictError(Exception):
    """Base class of every error crm_predict raises on purpose."""


class ConfigError(CRMPredictError):
    """A task configuration is malformed: an unknown key, a wrong type, a missing file."""


class DataValidationError(CRMPredictError):
    """Input data broke the data contract.

    Parameters
    ----------
    problems : list of str
        Every problem found, one readable sentence each.
    source : str
        What was being read, e.g. a file path.

    Examples
    --------
    >>> err = DataValidationError(["column 'region' is missing"], source="leads.csv")
    >>> print(err)
    leads.csv: 1 problem
      - column 'region' is missing
    """

    def __init__(self, problems: list[str], source: str = "input") -> None:
        self.problems = list(problems)
        self.source = source
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = [f"{source}: {len(self.problems)} {noun}"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class InputWarning(UserWarning):
    """Input that is read, but maybe not as the user meant: a column matched by a different
    case or spacing, a field the model needs that the lead list lacks, closes before
    creation. The command line prints these; ``--strict`` turns the first into an error."""
