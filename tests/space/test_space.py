"""Space validation: every malformed space is refused with the file, the field and what is allowed."""
from __future__ import annotations

import pytest

from gridsearch import SpaceError, load_space

BAD_SPACES = [
    ("space = SearchSpace(name='x', stages=[Stage('learning_rate', [0.1]]\n", r"syntax error in .*space\.py, line 2"),
    ("x = 1\n", r"defines no `space`"),
    ("space = 3\n", r"must be a gridsearch\.SearchSpace"),
    ("space = SearchSpace(name='x', stages=[Stage('n_epoch', [1, 2])])\n",
     r"unknown hyperparameter 'n_epoch' in stage 1 of .*space\.py; did you mean 'epochs'\?"),
    ("space = SearchSpace(name='x', stages=[Stage('learning_rate', [0.1]), Stage('lerning_rate', [1])])\n",
     r"unknown hyperparameter 'lerning_rate' in stage 2 .*did you mean 'learning_rate'"),
    ("space = SearchSpace(name='x', stages=[Stage('learning_rate', [])])\n",
     r"value list of 'learning_rate' is empty in stage 1"),
    ("space = SearchSpace(name='x', stages=[Stage('learning_rate', 0.1)])\n",
     r"must be a list, but got 0\.1 \(of type float\).*wrapped in a list"),
    ("space = SearchSpace(name='x', stages=[Stage('learning_rate', [0.1, -1e-3])])\n",
     r"learning_rate=-0\.001 \(float\) is not allowed: learning_rate must be a number > 0 in stage 1"),
    ("space = SearchSpace(name='x', stages=[Stage('learning_rate', [0])])\n", r"learning_rate must be a number > 0"),
    ("space = SearchSpace(name='x', stages=[Stage('dropout', [0.5, 1.0])])\n", r"dropout=1\.0 .*\[0, 1\)"),
    ("space = SearchSpace(name='x', stages=[Stage('noise', [-0.1])])\n", r"noise=-0\.1 .*noise must be a number >= 0"),
    ("space = SearchSpace(name='x', epochs=0, stages=[Stage('noise', [0.1])])\n",
     r"epochs=0 .*integer >= 1 in field 'epochs'"),
    ("space = SearchSpace(name='x', stages=[Stage('batch_norm', ['yes'])])\n", r"batch_norm='yes' \(str\).*True or False"),
    ("space = SearchSpace(name='x', stages=[Stage('optimizer', ['adam', 'adamw'])])\n",
     r"optimizer='adamw'.*one of 'adam', 'rmsprop'"),
    ("space = SearchSpace(name='x', backend='torch', stages=[Stage('noise', [0.1])])\n",
     r"backend='torch' in field 'backend' of .*space\.py is not allowed \(allowed: 'keras_tuner'"),
    ("space = SearchSpace(name='x', model='resnet', stages=[Stage('noise', [0.1])])\n", r"model='resnet' in field 'model' of .* is not allowed"),
    ("space = SearchSpace(name='x', objective='val_acc', stages=[Stage('noise', [0.1])])\n",
     r"objective='val_acc' .*did you mean 'val_accuracy'"),
    ("space = SearchSpace(name='x', stages=[])\n", r"stages is empty in field 'stages'"),
    ("space = SearchSpace(name='x', stages=[Stage('l2', [0.0]), Stage({'l2': [1e-4], 'dropout': [0.1]})])\n",
     r"'l2' is already tuned in stage 1 in stage 2"),
    ("space = SearchSpace(name='x', stages=['learning_rate'])\n", r"expected Stage\(\.\.\.\), got 'learning_rate' .* in stage 1"),
    ("space = SearchSpace(name='x', defaults={'learnin_rate': 0.1}, stages=[Stage('noise', [0.1])])\n",
     r"unknown hyperparameter 'learnin_rate' in field 'defaults'"),
    ("space = SearchSpace(name='a/b', stages=[Stage('noise', [0.1])])\n", r"name='a/b' must be .* folder name"),
    ("space = SearchSpace(name='x', stages=[Stage('noise')])\n", r"Stage\('noise'\) has no values"),
    ("raise RuntimeError('boom')\n", r"error while running .*space\.py, line 2: RuntimeError: boom"),
    ("def build(hp, s, n): pass\nspace = SearchSpace(name='x', model=build, stages=[Stage('width', [1])])\n",
     r"unknown hyperparameter 'width'.*declared in `defaults`"),
    ("space = SearchSpace(name='x', stages=[Stage('metrics', [1])])\n", r"'metrics' is reserved"),
    ("def build(hp, s, n): pass\nspace = SearchSpace(name='x', model=build, defaults={'status': 1}, "
     "stages=[Stage('status', [1, 2])])\n", r"'status' is reserved"),
    ("space = SearchSpace(name='x', stages=[Stage('learning_rate', [1e-3, 0.001])])\n",
     r"the value 0.001 appears twice in the list of 'learning_rate' in stage 1"),
    # a misspelled field of SearchSpace or Stage gets the same suggestion as a misspelled hyperparameter
    ("space = SearchSpace(name='x', n_epoch=20, stages=[Stage('noise', [0.1])])\n",
     r"line 2: TypeError: SearchSpace\(\) got an unexpected keyword argument 'n_epoch'; did you mean 'epochs'\?"),
    ("space = SearchSpace(name='x', bakend='sklearn', stages=[Stage('noise', [0.1])])\n",
     r"unexpected keyword argument 'bakend'; did you mean 'backend'\?"),
    ("space = SearchSpace(name='x', stages=[Stage('noise', [0.1], nmae='noise first')])\n",
     r"Stage\(\) got an unexpected keyword argument 'nmae'; did you mean 'name'\?"),
    ("space = SearchSpace(name='x', zzz=1, stages=[Stage('noise', [0.1])])\n",
     r"unexpected keyword argument 'zzz'; it takes name, data, model, defaults, stages, objective, epochs"),
]


def test_leaderboard_columns_are_reserved_names():
    from gridsearch.results.leaderboard import LEADING, TRAILING
    from gridsearch.space.hyperparams import RESERVED_NAMES
    from gridsearch.training.trial import METRICS

    assert set(LEADING) | set(METRICS) | set(TRAILING) <= RESERVED_NAMES


def test_true_and_one_are_different_values(write_space):
    path = write_space("def build(hp, s, n): pass\n"
                       "space = SearchSpace(name='x', model=build, defaults={'flag': 0}, stages=[Stage('flag', [True, 1])])\n")
    assert load_space(path).space.stages[0].grid == {"flag": [True, 1]}


@pytest.mark.parametrize("body, message", BAD_SPACES)
def test_bad_space_is_refused_with_file_and_field(write_space, body, message):
    path = write_space(body)
    with pytest.raises(SpaceError, match=message) as info:
        load_space(path)
    assert str(path) in str(info.value)


def test_missing_space_file_is_named(tmp_path):
    with pytest.raises(SpaceError, match=r"space file .*nope\.py does not exist"):
        load_space(tmp_path / "nope.py")


def test_custom_builder_names_declared_in_defaults_are_accepted(write_space):
    path = write_space("def build(hp, s, n): pass\n"
                       "space = SearchSpace(name='x', model=build, defaults={'width': 8}, stages=[Stage('width', [4, 8])])\n")
    assert load_space(path).space.stages[0].grid == {"width": [4, 8]}


def test_example_spaces_load(tmp_path):
    from conftest import REPO

    for path in sorted((REPO / "search_spaces").glob("*.py")):
        space = load_space(path).space
        assert space.stages or space.plan == "auto", path  # the doctor builds its own stages
