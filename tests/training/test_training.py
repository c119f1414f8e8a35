"""The fit routine's own choices: 16 batches per train-step call for a long fit, unless the builder chose."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import tiny_digits
from gridsearch.data.dataset import load_dataset
from gridsearch.space.hyperparams import builtin_defaults
from gridsearch.training.fit import (
    MIN_STEPS_FOR_BATCHED_CALLS,
    STEPS_PER_EXECUTION,
    TrainingContext,
    build_model,
    run_trial,
)
from gridsearch.training.models import simple_cnn


def _context(builder) -> TrainingContext:
    data = load_dataset(lambda: tiny_digits(), seed=0, validation_split=0.2, test_split=0.2, folder=Path("."))
    return TrainingContext(data, builder, 0, "val_accuracy", "max")


def _own_choice(config, input_shape, num_classes):
    model = simple_cnn(config, input_shape, num_classes)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=4)
    return model


@pytest.mark.slow
def test_a_long_fit_runs_16_batches_per_call_a_short_one_and_a_builders_own_choice_are_kept():
    ctx = _context(simple_cnn)
    config = {**builtin_defaults(), "epochs": 3, "batch_size": 16}
    shape = ctx.dataset.prepared_shape(config)
    steps_per_epoch = -(-len(ctx.dataset.y_train) // 16)
    long = {**config, "epochs": -(-MIN_STEPS_FOR_BATCHED_CALLS // steps_per_epoch)}
    assert build_model(long, ctx, shape).steps_per_execution == STEPS_PER_EXECUTION == 16
    assert build_model(config, ctx, shape).steps_per_execution == 1  # 3 epochs: tracing the loop costs more
    assert build_model(long, _context(_own_choice), shape).steps_per_execution == 4
    # fewer steps an epoch than a call runs: every epoch still trains, logs and validates
    result = run_trial("s1_t1", 1, "lr", "cid", long, ctx)
    assert result.epochs_run == len(result.history["val_accuracy"]) == long["epochs"], result.error


def test_mixed_precision_sets_the_policy_and_keeps_the_output_in_float32():
    import keras

    data = load_dataset("digits", seed=0, validation_split=0.2, test_split=0.2, folder=Path("."))
    config = {**builtin_defaults(), "epochs": 1}
    try:
        model = build_model(config, TrainingContext(data, simple_cnn, 0, "val_accuracy", "max",
                                                    mixed_precision="mixed_float16"))
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        assert model.layers[1].compute_dtype == "float16" and model.output.dtype == "float32"
        build_model(config, TrainingContext(data, simple_cnn, 0, "val_accuracy", "max"))
        assert keras.mixed_precision.global_policy().name == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_a_trial_tells_its_diagnosis_which_layers_act_only_in_training():
    """Dropout explains a val accuracy above the train one: the trial's diagnosis is given the model's."""
    config = {**builtin_defaults(), "epochs": 1, "batch_size": 64, "dropout": 0.2, "noise": 0.1}
    result = run_trial("s1_t1", 1, "dropout", "cid", config, _context(simple_cnn))
    noise, *dropouts = result.diagnosis["train_only"]  # noise on the inputs, dropout after each block and the head
    assert noise == "GaussianNoise(0.1)" and set(dropouts) == {"Dropout(0.2)"}, result.error
