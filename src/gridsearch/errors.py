"""The project's exceptions: the CLI turns each into a message and an exit code, no traceback."""
from __future__ import annotations


class GridsearchError(Exception):
    """Base of every error gridsearch reports to the user."""

    exit_code = 1


class SpaceError(GridsearchError):
    """Bad input (space file, data, results folder): refused before any training."""

    exit_code = 2


class SearchFailed(GridsearchError):
    """The search could not go on (e.g. every trial of a stage failed); what finished is kept."""

    exit_code = 1
