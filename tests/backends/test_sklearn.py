"""The sklearn backend: GridSearchCV over a scikeras KerasClassifier, real training on tiny data.

One small space runs on both backends (module fixture); the other tests train at most a few folds
of one or two epochs each.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import is_classifier
from sklearn.model_selection import KFold, StratifiedKFold, check_cv

from gridsearch import SpaceError, load_space
from gridsearch.backends import Candidate
from gridsearch.backends.sklearn import (
    BACKEND,
    CVKerasClassifier,
    check_wrapper_params,
    mean_curve,
    stratified_folds,
    wrapper_params,
)
from gridsearch.cli import main
from gridsearch.data.dataset import ArrayDataset, load_dataset
from gridsearch.plans.stages import PlannedStage, base_config, make_plan
from gridsearch.space.hyperparams import builtin_defaults
from gridsearch.training.fit import TrainingContext
from gridsearch.training.models import resolve_builder
from gridsearch.training.trial import TrialStatus

pytestmark = pytest.mark.slow  # real searches end to end

# lr=10 cannot learn, lr=1e-2 learns this in 3 epochs: an obvious winner for both backends.
BOTH = """
from gridsearch import SearchSpace, Stage
space = SearchSpace(
    name="tiny",
    data="tiny.npz",
    defaults={"filters": 8, "dense_units": 16, "conv_blocks": 1},
    stages=[Stage("learning_rate", [10.0, 1e-2]), Stage("batch_norm", [False, True])],
    epochs=3, batch_size=16, cv_folds=2, seed=0,
    backend="keras_tuner",
)
"""
CV_COLUMNS = {"cv_std", "cv_folds", "fit_time_s"}


@pytest.fixture(scope="module")
def both_backends(tmp_path_factory):
    """The same space file run as written (Keras Tuner) and with --backend sklearn."""
    import conftest

    folder = tmp_path_factory.mktemp("both")
    space = conftest.write_tiny_project(folder, BOTH)
    assert main(["run", str(space), "--results-dir", str(folder / "kt")]) == 0
    assert main(["run", str(space), "--results-dir", str(folder / "sk"), "--backend", "sklearn"]) == 0
    return space, folder / "kt" / "tiny", folder / "sk" / "tiny"


def _records(results):
    return {r["trial_id"]: r for r in (json.loads(p.read_text()) for p in (results / "trials").glob("*.json"))}


def test_both_backends_give_the_same_plan_columns_and_winner(both_backends):
    _, kt, sk = both_backends
    kt_board, sk_board = pd.read_csv(kt / "leaderboard.csv"), pd.read_csv(sk / "leaderboard.csv")
    plan = ["stage", "stage_name", "trial_id", "learning_rate", "batch_norm", "reused_from"]
    pd.testing.assert_frame_equal(kt_board[plan].sort_values("trial_id").reset_index(drop=True),
                                  sk_board[plan].sort_values("trial_id").reset_index(drop=True))
    assert set(sk_board.columns) - set(kt_board.columns) == CV_COLUMNS
    assert set(kt_board.columns) <= set(sk_board.columns)
    for board in (kt_board, sk_board):
        assert board.loc[0, "learning_rate"] == 0.01
        scores = board.set_index("trial_id")["val_accuracy"].fillna(0.0)  # lr=10 may end in NaN: a failed trial
        assert scores["s1_t2"] > scores["s1_t1"] + 0.2
    kt_best, sk_best = (json.loads((r / "best_config.json").read_text()) for r in (kt, sk))
    assert kt_best["hyperparameters"] == sk_best["hyperparameters"]
    assert sk_best["provenance"]["backend"] == "sklearn" and 0 <= sk_best["metrics"]["test_accuracy"] <= 1


def test_cv_rows_hold_the_mean_fold_score_its_spread_and_the_fold_histories(both_backends):
    _, _, sk = both_backends
    board = pd.read_csv(sk / "leaderboard.csv").set_index("trial_id")
    assert (board["cv_folds"] == 2).all() and (board["cv_std"] >= 0).all()
    assert (board.loc[board["reused_from"].isna(), "fit_time_s"] > 0).all()
    record = _records(sk)["s1_t2"]
    folds = record["diagnosis"]["folds"]
    assert [f["fold"] for f in folds] == [1, 2]
    assert record["metrics"]["val_accuracy"] == pytest.approx(np.mean([f["score"] for f in folds]))
    assert record["extra"]["cv_std"] == pytest.approx(np.std([f["score"] for f in folds]))
    # the mean curve is what is diagnosed; every fold trained its 3 epochs, validated on its held-out part
    assert all(len(f["history"]["val_loss"]) == 3 for f in folds)
    assert record["history"] == mean_curve([f["history"] for f in folds])
    assert record["diagnosis"]["label"] and all(f["label"] for f in folds)
    # the fold's last-epoch Keras val_accuracy is GridSearchCV's score of that fold: same held-out data
    for fold in folds:
        assert fold["history"]["val_accuracy"][-1] == pytest.approx(fold["score"])
    assert sum(folds[0]["held_out_class_counts"]) + sum(folds[1]["held_out_class_counts"]) == 96  # train+val, no test


def test_two_processes_give_the_results_of_one(both_backends, capfd):
    """n_jobs=2 (joblib processes) reproduces the n_jobs=1 run's stage 1 exactly, and its workers import
    TensorFlow without a word on the terminal."""
    space_file, _, sk = both_backends
    loaded = load_space(space_file)
    space = loaded.space
    dataset = load_dataset(space.data, seed=space.seed, validation_split=space.validation_split,
                           test_split=space.test_split, folder=loaded.folder)
    ctx = TrainingContext(dataset, resolve_builder(space.model), space.seed, space.objective,
                          space.objective_direction, cv_folds=space.cv_folds, n_jobs=2)
    stage = make_plan(space)[0]
    config = {**base_config(space), "learning_rate": 1e-2}  # trial s1_t2 of the run; its 2 folds fit side by side
    got = []
    BACKEND.run_stage(stage, [Candidate("s1_t2", "c2", config)], ctx, got.append, sk.parent / "jobs2")
    (result,) = got
    before = _records(sk)["s1_t2"]
    assert result.status.value == before["status"] == "ok"
    assert result.metrics["val_accuracy"] == before["metrics"]["val_accuracy"]
    err = capfd.readouterr().err
    assert "absl::InitializeLog" not in err and "oneDNN custom operations" not in err, err[-2000:]
    assert len(result.diagnosis["folds"]) == 2
    for fold, fold_before in zip(result.diagnosis["folds"], before["diagnosis"]["folds"]):
        np.testing.assert_allclose(fold["history"]["loss"], fold_before["history"]["loss"], rtol=1e-6)
        np.testing.assert_allclose(fold["history"]["val_loss"], fold_before["history"]["val_loss"], rtol=1e-6)


def test_the_wrapper_is_a_classifier_and_the_folds_are_explicit():
    y = np.repeat([0, 1, 2], 12)
    assert is_classifier(CVKerasClassifier())  # plain scikeras 0.13 is not, with scikit-learn >= 1.6
    assert isinstance(check_cv(3, y, classifier=is_classifier(CVKerasClassifier())), StratifiedKFold)
    splitter = stratified_folds(y, 3, seed=7)
    assert splitter.shuffle and splitter.random_state == 7 and splitter.n_splits == 3
    with pytest.raises(SpaceError, match=r"cv_folds=5 in .*: class 2 has only 4 samples"):
        stratified_folds(np.array([0] * 10 + [1] * 10 + [2] * 4), 5, seed=0)


def test_folds_are_stratified_on_class_ordered_data(tmp_path):
    """Data sorted by class: plain KFold would hold out one class per fold; ours holds out every class."""
    import conftest

    x, y = conftest.tiny_digits(n_per_class=30)  # sorted by class: 30 zeros, 30 ones, 30 twos
    x = x[..., np.newaxis].astype("float32")
    assert [len(set(y[test])) for _, test in KFold(3).split(x, y)] == [1, 1, 1]  # the trap is real on this data
    dataset = ArrayDataset(x, y, x[:0], y[:0], x[:3], y[:3], [0, 1, 2])
    ctx = TrainingContext(dataset, resolve_builder("simple_cnn"), 0, "val_accuracy", "max", cv_folds=3)
    config = {**builtin_defaults(), "epochs": 1, "batch_size": 16, "filters": 4, "dense_units": 8, "conv_blocks": 1}
    stage = PlannedStage(1, "learning_rate", {"learning_rate": [1e-2]})
    got = []
    BACKEND.run_stage(stage, [Candidate("s1_t1", "c1", config)], ctx, got.append, tmp_path)
    (result,) = got
    assert result.status is TrialStatus.OK, result.error
    folds = result.diagnosis["folds"]
    assert len(folds) == 3
    for fold in folds:
        assert fold["held_out_class_counts"] == [10, 10, 10]  # every class, in proportion
        assert fold["train_size"] == 60 and len(fold["history"]["loss"]) == 1


def test_wrapper_parameter_names_are_checked_before_anything_runs():
    config = {**builtin_defaults(), "epochs": 5}
    params = wrapper_params(config)
    assert params["epochs"] == 5 and params["model__learning_rate"] == config["learning_rate"]
    check_wrapper_params(params, set(config))  # every routed name is a known one: passes
    with pytest.raises(SpaceError, match=r"'n_epoch' .* not an argument of scikeras.*did you mean 'epochs'\?"):
        check_wrapper_params({**params, "n_epoch": 20}, set(config))
    with pytest.raises(SpaceError, match=r"'model__widht' .*did you mean 'width'\?"):
        check_wrapper_params({**params, "model__widht": 8}, set(config) | {"width"})
    with pytest.raises(SpaceError, match="contains '__'"):
        check_wrapper_params({**params, "model__dense__units": 8}, set(config) | {"dense__units"})


IGNORING_BUILDER = """
import keras
from gridsearch import SearchSpace, Stage

def build(hp, input_shape, num_classes, **ignored):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(hp["learning_rate"]), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model

space = SearchSpace(name="ignored", data="tiny.npz", model=build, defaults={"n_epoch": 20},
                    stages=[Stage("learning_rate", [1e-2])], backend="sklearn", epochs=1, seed=0)
"""


def test_a_misspelled_fit_argument_of_a_custom_model_is_refused(tmp_path, tiny_npz, capsys):
    """`n_epoch` declared by a custom model that never reads it would train at the space's epochs, silently."""
    space = tmp_path / "space.py"
    space.write_text(IGNORING_BUILDER)
    assert main(["run", str(space), "--results-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "'n_epoch'" in err and "never read by the model builder" in err and "did you mean 'epochs'?" in err
    assert not list((tmp_path / "out" / "ignored" / "trials").glob("*.json"))


def test_n_epoch_in_a_stage_is_refused_on_the_sklearn_backend(tiny_space, tmp_path, capsys):
    space = tiny_space(backend="sklearn")
    space.write_text(space.read_text().replace('Stage("batch_norm", [False, True])', 'Stage("n_epoch", [20])'))
    assert main(["run", str(space), "--results-dir", str(tmp_path / "out")]) == 2
    assert "unknown hyperparameter 'n_epoch' in stage 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse refuses it, with exit code 2
        main(["run", str(tiny_space()), "--jobs", "0", "--results-dir", str(tmp_path / "out")])
    assert refused.value.code == 2 and "--jobs: '0' is not allowed" in capsys.readouterr().err


FAILING = """
import keras
from gridsearch import SearchSpace, Stage

builds = {"width 5": 0}

def build(hp, input_shape, num_classes):
    if hp["width"] == 3:
        raise ValueError("width 3 is broken on purpose")
    if hp["width"] == 5:
        builds["width 5"] += 1
        if builds["width 5"] == 2:
            raise ValueError("width 5 breaks in its second fold")
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Dense(hp["width"], activation="relu")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(keras.layers.Dropout(0.1)(x)))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

space = SearchSpace(name="failing", data="tiny.npz", model=build, defaults={"width": 8},
                    stages=[Stage("width", [3, 5, 8])], backend="sklearn", cv_folds=2, epochs=2, seed=0)
"""


def test_a_config_that_fails_in_a_fold_is_recorded_failed_and_the_others_go_on(tmp_path, tiny_npz):
    space = tmp_path / "space.py"
    space.write_text(FAILING)
    assert main(["run", str(space), "--results-dir", str(tmp_path / "out")]) == 0
    board = pd.read_csv(tmp_path / "out" / "failing" / "leaderboard.csv").set_index("trial_id")
    assert board["status"].to_dict() == {"s1_t3": "ok", "s1_t1": "failed", "s1_t2": "failed"}
    assert board.index[0] == "s1_t3" and board.loc["s1_t3", "rank"] == 1
    assert "fold 1/2 failed (2 of 2 folds): ValueError: width 3 is broken on purpose" in board.loc["s1_t1", "error"]
    assert "fold 2/2 failed (1 of 2 folds): ValueError: width 5 breaks in its second fold" in board.loc["s1_t2", "error"]
    assert pd.isna(board.loc["s1_t2", "val_accuracy"])  # GridSearchCV's error_score=nan: no mean over one fold
    record = _records(tmp_path / "out" / "failing")["s1_t2"]
    assert record["diagnosis"]["folds"][0]["error"] == "" and len(record["diagnosis"]["folds"][0]["history"]["loss"]) == 2
    assert "Traceback" in record["error"]
    # the builder's dropout reaches the diagnosis of the trial and of each fold: it explains a val above train
    record = _records(tmp_path / "out" / "failing")["s1_t3"]
    assert record["diagnosis"]["train_only"] == ["Dropout(0.1)"]
    assert [fold["train_only"] for fold in record["diagnosis"]["folds"]] == [["Dropout(0.1)"]] * 2


def test_too_few_samples_for_the_folds_is_refused_before_the_pre_flight_trains(tiny_space, tmp_path, capsys):
    space = tiny_space(backend="sklearn")
    space.write_text(space.read_text().replace("seed=0,", "seed=0, cv_folds=50,"))
    assert main(["run", str(space), "--results-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cv_folds=50" in err and "samples" in err
    assert not (tmp_path / "out" / "tiny").exists()  # no pre-flight ran, no folder left behind
