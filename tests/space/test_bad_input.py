"""The bad-input matrix, end to end through the CLI: every malformed space file or unusable data
source is refused with exit code 2 and a message that names the space file and the field, before
any training and without writing anything to the results folder.

Most cases run in-process (`gridsearch.cli.main`); a few go through `python -m gridsearch run`
in a subprocess to prove the real command line behaves the same.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_digits, write_image_folder
from gridsearch.cli import EXIT_BAD_INPUT, main


def _space(stages: str = "[Stage('learning_rate', [1e-2, 1e-3])]", **fields: str) -> str:
    """A space that is valid except for the fields given (as source text)."""
    values = {"name": "'bad'", "data": "'tiny.npz'", "epochs": "1", "stages": stages, **fields}
    return "space = SearchSpace(" + ", ".join(f"{k}={v}" for k, v in values.items()) + ")\n"


# (case id, space file body after `from gridsearch import SearchSpace, Stage`, what the message must say)
# Every message must also name the space file itself; that is checked for every case.
BAD_INPUTS = [
    # the file itself
    ("syntax_error", "space = SearchSpace(name='bad', stages=[Stage('learning_rate', [0.1]]\n",
     ["syntax error", "line 2"]),
    ("runtime_error", "space = SearchSpace(name=undefined_name)\n", ["line 2", "NameError", "undefined_name"]),
    ("missing_space", "spcae = SearchSpace(name='bad', stages=[Stage('learning_rate', [0.1])])\n",
     ["defines no `space`"]),
    ("space_not_a_searchspace", "space = {'name': 'bad'}\n", ["`space`", "SearchSpace", "dict"]),
    # names
    ("unknown_name_in_stage", _space("[Stage('learning_rate', [0.1]), Stage('n_epoch', [1, 2])]"),
     ["unknown hyperparameter 'n_epoch'", "stage 2", "did you mean 'epochs'"]),
    ("unknown_name_in_defaults", _space(defaults="{'lerning_rate': 0.1}"),
     ["unknown hyperparameter 'lerning_rate'", "field 'defaults'"]),
    ("same_name_in_two_stages", _space("[Stage('l2', [0.0]), Stage({'l2': [1e-4], 'dropout': [0.1]})]"),
     ["'l2' is already tuned in stage 1", "stage 2"]),
    ("bad_folder_name", _space(name="'a/b'"), ["field 'name'", "a/b"]),
    # wrong types
    ("scalar_instead_of_list", _space("[Stage('learning_rate', 0.1)]"),
     ["values of 'learning_rate' must be a list", "stage 1"]),
    ("stage_not_a_stage", _space("[('learning_rate', [0.1])]"), ["expected Stage(...)", "stage 1"]),
    ("stage_without_values", _space("[Stage('learning_rate')]"), ["has no values", "stage 1"]),
    ("epochs_as_text", _space(epochs="'ten'"), ["epochs='ten'", "field 'epochs'"]),
    ("batch_norm_as_text", _space("[Stage('batch_norm', [False, 'yes'])]"), ["batch_norm='yes'", "stage 1"]),
    ("seed_as_text", _space(seed="'0'"), ["seed='0'", "field 'seed'"]),
    ("defaults_not_a_dict", _space(defaults="[('l2', 0.0)]"), ["field 'defaults'", "dict"]),
    # empty grids
    ("empty_value_list", _space("[Stage('learning_rate', [])]"), ["'learning_rate' is empty", "stage 1"]),
    ("empty_joint_stage", _space("[Stage({})]"), ["at least one hyperparameter", "stage 1"]),
    ("no_stages", _space("[]"), ["stages is empty", "field 'stages'"]),
    # impossible values
    ("negative_learning_rate", _space("[Stage('learning_rate', [1e-2, -1e-3])]"),
     ["learning_rate=-0.001", "a number > 0", "stage 1"]),
    ("negative_noise", _space("[Stage('noise', [0.1, -0.1])]"), ["noise=-0.1", "stage 1"]),
    ("dropout_one", _space("[Stage('dropout', [0.5, 1.0])]"), ["dropout=1.0", "[0, 1)", "stage 1"]),
    ("zero_epochs", _space(epochs="0"), ["epochs=0", "integer >= 1", "field 'epochs'"]),
    ("unknown_optimizer", _space("[Stage('optimizer', ['adam', 'adamw'])]"), ["optimizer='adamw'", "'rmsprop'"]),
    ("unknown_objective", _space(objective="'val_acc'"), ["field 'objective'", "did you mean 'val_accuracy'"]),
    ("unknown_backend", _space(backend="'torch'"), ["field 'backend'", "'keras_tuner'"]),
    ("unknown_model", _space(model="'resnet'"), ["field 'model'", "'simple_cnn'"]),
    ("validation_split_too_big", _space(validation_split="1.5"), ["field 'validation_split'", "(0, 0.9)"]),
    # data: refused before training, after the file itself validated
    ("missing_data_file", _space(data="'missing.npz'"), ["data file", "missing.npz", "does not exist"]),
    ("data_not_npz_or_folder", _space(data="'notes.txt'"), ["notes.txt", "neither an .npz file nor an image folder"]),
    ("data_of_wrong_type", _space(data="42"), ["data=42", "is not allowed"]),
    ("corrupt_npz", _space(data="'corrupt.npz'"), ["corrupt.npz", "could not be read"]),
    ("npz_without_labels", _space(data="'no_y.npz'"), ["no_y.npz", "has no array 'y'", "y_key"]),
    ("unreadable_image_folder", _space(data="'images_corrupt'"), ["images_corrupt", "'cat' hold no readable image"]),
    ("image_folder_one_class", _space(data="'images_one_class'"), ["images_one_class", "one sub-folder per class"]),
    ("image_folder_without_images", _space(data="'images_empty'"), ["images_empty", "'a', 'b' hold no readable image"]),
    ("mixed_label_types",
     "import numpy as np\ndef load():\n    return np.zeros((6, 8, 8)), np.array([0, 'a', 1, 'b', 0, 'a'], dtype=object)\n"
     + _space(data="load"), ["data in", "labels mix types", "int", "str"]),
    ("single_class", "import numpy as np\ndef load():\n    return np.zeros((9, 8, 8)), np.zeros(9, dtype=int)\n"
     + _space(data="load"), ["data in", "1 class", "at least 2"]),
    ("flat_images", "import numpy as np\ndef load():\n    return np.zeros((9, 64)), np.arange(9) % 3\n"
     + _space(data="load"), ["data in", "images must be (n, height, width)", "(9, 64)"]),
    ("missing_image_folder", _space(data="'photos'"), ["image folder", "photos", "does not exist",
                                                        "one sub-folder of images per class"]),
    ("misspelled_field", "space = SearchSpace(name='bad', n_epoch=20, stages=[Stage('noise', [0.1])])\n",
     ["line 2", "unexpected keyword argument 'n_epoch'; did you mean 'epochs'?"]),
    # a builder that cannot build the defaults, where every stage starts: refused before any trial
    ("builder_reads_an_undeclared_name",
     "import keras\ndef build(hp, shape, n):\n    rate = hp['dropout_rate']\n    return keras.Sequential()\n"
     + _space(model="build", defaults="{'width': 8}", stages="[Stage('width', [4, 8])]"),
     ["field 'model'", "reads hyperparameter 'dropout_rate'", "field 'defaults' does not declare",
      "nothing was trained", "defaults={..., 'dropout_rate': <value>}"]),
    ("builder_fails_on_the_defaults",
     "def build(hp, shape, n):\n    raise ValueError('no such layer')\n"
     + _space(model="build", defaults="{'width': 8}", stages="[Stage('width', [4, 8])]"),
     ["field 'model'", "fails on the defaults", "nothing was trained", "ValueError: no such layer"]),
    ("data_loader_raises", "def load():\n    raise FileNotFoundError('/mnt/gone/x.npz')\n" + _space(data="load"),
     ["data loader", "FileNotFoundError", "/mnt/gone/x.npz"]),
]

# Run through `python -m gridsearch run` in a subprocess (the rest in-process, to keep the suite fast).
SUBPROCESS_CASES = {"syntax_error", "unknown_name_in_stage", "missing_data_file"}


@pytest.fixture
def data_folder(tmp_path) -> Path:
    """The space files' folder, with good and broken data sources next to them."""
    x, y = tiny_digits(n_per_class=10)
    np.savez(tmp_path / "tiny.npz", x=x, y=y)
    np.savez(tmp_path / "no_y.npz", x=x)
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    (tmp_path / "notes.txt").write_text("not data\n")
    corrupt = write_image_folder(tmp_path / "images_corrupt", per_class=2, size=(4, 4))
    (corrupt / "cat" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (corrupt / "cat" / "1.png").write_bytes(b"")
    (tmp_path / "images_one_class" / "cat").mkdir(parents=True)
    (tmp_path / "images_one_class" / "cat" / "0.png").write_bytes(b"")
    for name in ("a", "b"):
        (tmp_path / "images_empty" / name).mkdir(parents=True)
        (tmp_path / "images_empty" / name / "readme.txt").write_text("no images here\n")
    return tmp_path


def _nothing_written(results: Path) -> bool:
    return not results.exists() or not any(results.rglob("*"))


def test_the_matrix_is_large_enough():
    assert len(BAD_INPUTS) >= 20 and len({case for case, _, _ in BAD_INPUTS}) == len(BAD_INPUTS)
    assert SUBPROCESS_CASES <= {case for case, _, _ in BAD_INPUTS}


@pytest.mark.parametrize("case, body, expected", [c for c in BAD_INPUTS if c[0] not in SUBPROCESS_CASES],
                         ids=[c[0] for c in BAD_INPUTS if c[0] not in SUBPROCESS_CASES])
def test_bad_input_is_refused_in_process(data_folder, capsys, case, body, expected):
    space = data_folder / f"{case}.py"
    space.write_text("from gridsearch import SearchSpace, Stage\n" + body)
    results = data_folder / "results"
    assert main(["run", str(space), "--results-dir", str(results)]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err
    for text in [str(space), *expected]:
        assert text in captured.err, f"{text!r} missing from: {captured.err}"
    assert _nothing_written(results), sorted(results.rglob("*"))


@pytest.mark.parametrize("case, body, expected", [c for c in BAD_INPUTS if c[0] in SUBPROCESS_CASES],
                         ids=[c[0] for c in BAD_INPUTS if c[0] in SUBPROCESS_CASES])
@pytest.mark.slow
def test_bad_input_is_refused_by_the_command_line(data_folder, case, body, expected):
    space = data_folder / f"{case}.py"
    space.write_text("from gridsearch import SearchSpace, Stage\n" + body)
    results = data_folder / "results"
    proc = subprocess.run([sys.executable, "-m", "gridsearch", "run", str(space), "--results-dir", str(results)],
                          capture_output=True, text=True, timeout=300, cwd=data_folder,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for text in [str(space), *expected]:
        assert text in proc.stderr, f"{text!r} missing from: {proc.stderr}"
    assert _nothing_written(results), sorted(results.rglob("*"))


def test_missing_or_misnamed_space_file_is_refused(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["run", str(tmp_path / "nope.py"), "--results-dir", str(results)]) == EXIT_BAD_INPUT
    assert f"space file {tmp_path / 'nope.py'} does not exist" in capsys.readouterr().err
    (tmp_path / "space.txt").write_text("space = 1\n")
    assert main(["run", str(tmp_path / "space.txt"), "--results-dir", str(results)]) == EXIT_BAD_INPUT
    assert "must be a Python module ending in .py" in capsys.readouterr().err
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "b.py").write_text("")
    (tmp_path / "spaces" / "a.py").write_text("")
    assert main(["run", str(tmp_path / "spaces"), "--results-dir", str(results)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"space file {tmp_path / 'spaces'} is a folder; its space files: {tmp_path / 'spaces' / 'a.py'}, " \
           f"{tmp_path / 'spaces' / 'b.py'}. Name one file" in err
    assert _nothing_written(results)


# --- results folder that cannot be written: refused before training ------------------------------

@pytest.fixture
def good_space(data_folder) -> Path:
    space = data_folder / "good.py"
    space.write_text("from gridsearch import SearchSpace, Stage\n" + _space())
    return space


def test_results_path_under_a_regular_file_is_refused_before_training(good_space, data_folder, capsys):
    """Works for root too: no permission bit stops root, but a file cannot hold a folder."""
    blocker = data_folder / "not_a_folder"
    blocker.write_text("a file where the results folder should go\n")
    assert main(["run", str(good_space), "--results-dir", str(blocker)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(blocker / "bad") in err and "results folder" in err
    assert blocker.read_text().startswith("a file where")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="running as root: chmod 0o500 does not stop root from writing "
                           "(the regular-file case above covers root)")
def test_read_only_results_folder_is_refused_before_training(good_space, data_folder, capsys):
    locked = data_folder / "read_only"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["run", str(good_space), "--results-dir", str(locked)]) == EXIT_BAD_INPUT
        err = capsys.readouterr().err
        assert "Traceback" not in err and str(locked / "bad") in err
        assert not any(locked.iterdir())
    finally:
        locked.chmod(0o700)


def test_disk_almost_full_is_refused_before_training(good_space, data_folder, capsys, monkeypatch):
    import shutil

    from gridsearch.results import store

    real = shutil.disk_usage
    monkeypatch.setattr(store.shutil, "disk_usage", lambda p: real(p)._replace(free=10 * 2**20))
    results = data_folder / "results"
    assert main(["run", str(good_space), "--results-dir", str(results)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "10 MiB free" in err and str(results / "bad") in err
    assert _nothing_written(results), sorted(results.rglob("*"))
