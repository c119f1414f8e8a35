"""The project's exceptions, and the two phrasings every user-facing refusal shares.

The CLI turns each exception into a message and an exit code, no traceback. `did_you_mean` and
`not_allowed` are the one place where a suggestion and an "is not allowed (allowed: ...)" are
worded, so that a typo reads the same in a space file, a stage, a flag and a wrapper parameter.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

SUGGESTION_CUTOFF = 0.6  # difflib's default: 'n_epoch' -> 'epochs' (0.62), 'lerning_rate' -> 'learning_rate'


class GridsearchError(Exception):
    """Base of every error gridsearch reports to the user."""

    exit_code = 1


class SpaceError(GridsearchError):
    """Bad input (space file, data, results folder): refused before any training."""

    exit_code = 2


class SearchFailed(GridsearchError):
    """The search could not go on (e.g. every trial of a stage failed); what finished is kept."""

    exit_code = 1


def did_you_mean(name: Any, candidates: Iterable[Any], cutoff: float = SUGGESTION_CUTOFF) -> str:
    """'; did you mean 'epochs'?' for the closest candidate, or '' when none is close."""
    close = difflib.get_close_matches(str(name), sorted(map(str, candidates)), n=1, cutoff=cutoff)
    return f"; did you mean {close[0]!r}?" if close else ""


def not_allowed(what: str, value: Any, allowed: str | Iterable[Any], where: str = "", extra: str = "") -> str:
    """"backend='kerass' in field 'backend' of x.py is not allowed (allowed: 'keras_tuner', 'sklearn'); did you
    mean 'keras_tuner'?": the value, where it was given, what is allowed (a list of values, with the closest
    one suggested, or a sentence such as "an integer >= 1")."""
    place = f" in {where}" if where else ""
    if isinstance(allowed, str):
        return f"{what}={value!r}{place} is not allowed (allowed: {allowed})"
    allowed = list(allowed)
    listed = ", ".join(repr(a) for a in allowed) + (f" {extra}" if extra else "")
    return f"{what}={value!r}{place} is not allowed (allowed: {listed}){did_you_mean(value, allowed)}"


def unknown_keyword(owner: str, name: str, accepted: Iterable[str]) -> str:
    """Python's own TypeError for an unexpected keyword, with the suggestion Python leaves out."""
    accepted = list(accepted)
    hint = did_you_mean(name, accepted) or f"; it takes {', '.join(accepted)}"
    return f"{owner}() got an unexpected keyword argument {name!r}{hint}"
