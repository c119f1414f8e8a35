"""The one wording of a suggestion and of a refused value, shared by every message."""
from __future__ import annotations

import pytest

from gridsearch.errors import did_you_mean, not_allowed, unknown_keyword


@pytest.mark.parametrize("name, candidates, hint", [
    ("n_epoch", ["epochs", "batch_size"], "; did you mean 'epochs'?"),
    ("lerning_rate", {"learning_rate", "l2"}, "; did you mean 'learning_rate'?"),
    ("zzz", ["epochs"], ""),
])
def test_did_you_mean(name, candidates, hint):
    assert did_you_mean(name, candidates) == hint


def test_not_allowed_lists_the_values_and_suggests_the_closest_or_says_what_is_allowed():
    assert not_allowed("backend", "kerastuner", ["keras_tuner", "sklearn"], "field 'backend' of x.py") == (
        "backend='kerastuner' in field 'backend' of x.py is not allowed (allowed: 'keras_tuner', 'sklearn'); "
        "did you mean 'keras_tuner'?")
    assert not_allowed("--top", 0, "an integer >= 1") == "--top=0 is not allowed (allowed: an integer >= 1)"


def test_unknown_keyword_reads_like_python_with_the_suggestion():
    assert unknown_keyword("SearchSpace", "n_epoch", ["name", "epochs"]) == (
        "SearchSpace() got an unexpected keyword argument 'n_epoch'; did you mean 'epochs'?")
    assert unknown_keyword("Stage", "zzz", ["param", "values", "name"]).endswith("; it takes param, values, name")
