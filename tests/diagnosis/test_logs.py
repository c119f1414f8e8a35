"""Reading the logs Keras users have, as small files the tests write: CSVLogger with any separator and its
quirks, a history JSON, a TensorBoard folder; and `diagnose_log` with and without the number of classes."""
from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from gridsearch import read_training_log
from gridsearch.diagnosis import logs
from gridsearch.diagnosis.logs import TrainingLog, diagnose_log

CSV_LOG = """epoch,accuracy,learning_rate,loss,val_accuracy,val_loss
0,0.5,0.001,1.6,0.6,1.2
1,0.8,0.001,0.9,0.85,0.7
2,0.9,0.001,nan,0.9,0.5
"""
EXPECTED = {"accuracy": [0.5, 0.8, 0.9], "learning_rate": [0.001] * 3, "loss": [1.6, 0.9, math.nan],
            "val_accuracy": [0.6, 0.85, 0.9], "val_loss": [1.2, 0.7, 0.5]}


def same(history: dict, expected: dict) -> bool:
    return set(history) == set(expected) and all(np.allclose(history[k], expected[k], equal_nan=True) for k in expected)


def test_a_csvlogger_file_keeps_its_epoch_numbers(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(CSV_LOG)
    log = read_training_log(path)
    assert same(log.history, EXPECTED) and log.first_epoch == 0 and log.notes == ()
    result = diagnose_log(path, 10).diagnosis
    assert result.label.value == "nan" and "at epoch 2" in result.evidence  # row "2," of the file, not a 1-based 3


@pytest.mark.parametrize("separator", [";", "\t", "|"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_any_separator_line_end_and_a_byte_order_mark(tmp_path, separator, line_end):
    text = CSV_LOG.replace(",", separator).replace("\n", line_end)
    path = tmp_path / "log.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    log = read_training_log(path)
    assert same(log.history, EXPECTED)
    assert ({"\t": "tab"}.get(separator, repr(separator))) in log.source


def test_decimal_commas_in_a_semicolon_separated_file(tmp_path):
    """The thirteenth corpus' l013: a log saved again from a spreadsheet, "0,157;0,71"."""
    path = tmp_path / "log.csv"
    path.write_text("accuracy;loss;epoch_time_sec\n50%;1,25;12,5\n75,5%;6,5e-1;11\n")
    assert read_training_log(path).history == {"accuracy": [0.5, 0.755], "loss": [1.25, 0.65],
                                               "epoch_time_sec": [12.5, 11.0]}


def test_rows_without_the_headers_cells_are_left_out_and_named(tmp_path):
    """The thirteenth corpus' o036: three rows run together into one of 13 cells, and a stray fragment; each once
    split the file into two runs. A row cut off mid-write is left out too, not the columns it lacks."""
    rows = [f"{e},{1 / (e + 1):.3f},{1.2 / (e + 1):.3f}" for e in range(8)]
    text = "\n".join(["epoch,loss,val_loss", *rows[:3], rows[3] + rows[4] + rows[5], "0341", *rows[6:], "8,0.11"])
    path = tmp_path / "log.csv"
    path.write_text(text + "\n")
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, 0.5, 0.333, 0.143, 0.125] and len(log.history["val_loss"]) == 5
    assert log.notes == ("rows that do not have the header's 3 cells, left out: line 5 (7 cells), line 6 (1 cell), "
                         "line 9 (2 cells)", "epochs are counted by the rows read: the file's epoch 6 is epoch 3 here")


def test_a_trailing_separator_a_new_runs_own_header_and_a_file_of_broken_rows(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,val_loss,\n0,1.0,1.1\n1,0.5,0.6,\n")  # a trailing separator names no column
    assert read_training_log(path).history == {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}
    path.write_text("epoch,loss\n0,1.0\n1,0.5\nepoch,loss,val_loss\n0,2.0,2.1\n1,1.5,1.6\n")  # a new run, new columns
    log = read_training_log(path)
    assert log.history == {"loss": [2.0, 1.5], "val_loss": [2.1, 1.6]} and "2 runs in the file" in log.notes[0]
    path.write_text("epoch;loss;val_loss\n0;1,0\n1;0,5\n")
    with pytest.raises(ValueError, match="none of its 2 data rows has the header's 3 cells"):
        read_training_log(path)


def test_keras2_names_na_cells_and_metric_aliases(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,acc,loss,lr,val_acc,val_loss,auc\n0,0.5,1.6,0.01,0.6,1.2,0.7\n1,0.8,0.9,0.01,NA,,0.8\n")
    assert read_training_log(path).history == {"accuracy": [0.5, 0.8], "loss": [1.6, 0.9], "learning_rate": [0.01] * 2,
                                               "auc": [0.7, 0.8]}
    path.write_text("epoch,sparse_categorical_accuracy,loss\n0,0.5,1.0\n")
    assert read_training_log(path).history == {"accuracy": [0.5], "loss": [1.0]}


def test_empty_cells_are_named_and_an_empty_loss_is_a_nan(tmp_path):
    """pandas' to_csv writes a NaN as an empty cell: a loss empty in every row is a run whose loss was NaN from
    the start (the corpus' k007), diagnosed as such; a metric empty in some or all epochs is left out by name."""
    path = tmp_path / "history.csv"
    path.write_text("loss,accuracy,val_loss,val_accuracy,lr\n" + ",0.8,,0.8,\n" * 3 + ",0.8,,0.8,0.01\n")
    log = read_training_log(path)
    assert set(log.history) == {"loss", "accuracy", "val_accuracy"} and all(map(math.isnan, log.history["loss"]))
    assert log.notes == ("'loss' is empty in every data row: read as NaN (pandas writes a NaN as an empty cell)",
                         "empty in some epochs only, left out: lr", "empty in every epoch, left out: val_loss")
    assert diagnose_log(path, 2).diagnosis.label.value == "nan"
    path.write_text("epoch,loss\n0,1.0\n1,NA\n2,\n")
    log = read_training_log(path)
    assert log.history["loss"][0] == 1.0 and math.isnan(log.history["loss"][2])
    assert log.notes == ("'loss' is empty in 2 of 3 data rows (the first: row 2): read as NaN (pandas writes a NaN as "
                         "an empty cell)",)


def test_accuracies_written_as_percentages(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("Epoch,Train_Loss,Val_Loss,Train_Acc,Val_Acc\n1,0.9,1.0,61.5%,58.25%\n2,0.5,0.7,93.07%,80%\n")
    log = read_training_log(path)
    assert same(log.history, {"loss": [0.9, 0.5], "val_loss": [1.0, 0.7], "accuracy": [0.615, 0.9307],
                              "val_accuracy": [0.5825, 0.8]}) and log.notes == ()


def test_columns_named_in_percent(tmp_path):
    """The sixteenth corpus' 16e006: "Training Accuracy (%)" holds 49.7 for 0.497; a cell with its own % sign is
    read once, not twice."""
    path = tmp_path / "history.csv"
    path.write_text("Epoch,Training Accuracy (%),Training Loss,Validation Accuracy [%]\n1,49.5,1.75,85.0\n"
                    "2,70.0,0.9,88.5%\n")
    log = read_training_log(path)
    assert log.history == {"accuracy": [0.495, 0.7], "loss": [1.75, 0.9], "val_accuracy": [0.85, 0.885]}
    assert log.notes == ("percentages, read as shares (/ 100): Training Accuracy (%), Validation Accuracy [%]",)


def test_a_pandas_dump_with_an_index_column_and_spelled_out_names(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(",Train Loss,Validation Loss,Train Accuracy,Validation Accuracy\n0,1.0,1.1,0.5,0.4\n1,0.5,0.6,0.8,0.7\n")
    log = read_training_log(path)
    assert log.history == {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "accuracy": [0.5, 0.8],
                           "val_accuracy": [0.4, 0.7]}
    assert log.first_epoch == 0


def test_a_pandas_dump_with_an_index_and_an_epoch_column_numbers_epochs_by_the_epoch_column(tmp_path):
    """The thirteenth corpus' o020: a history DataFrame with its own epoch column, written with its index."""
    path = tmp_path / "history.csv"
    path.write_text(",epoch,loss,accuracy\n0,10,1.0,0.5\n1,11,0.5,0.8\n")
    log = read_training_log(path)
    assert log.history == {"loss": [1.0, 0.5], "accuracy": [0.5, 0.8]} and log.first_epoch == 10


@pytest.mark.parametrize("header, epoch_cells, first", [
    (",epoch,variable,value", lambda i, e: f"{i},{e},", 3),  # pd.melt(history_df.reset_index(), id_vars="epoch")
    ("metric;value", lambda i, e: "", 1),  # no epoch column: numbered from 1
])
def test_a_history_melted_for_plotting_reads_as_one_column_per_metric(tmp_path, header, epoch_cells, first):
    """The fifteenth corpus' 15a015: one row per metric and epoch (epoch, variable, value), as seaborn plots it."""
    separator = ";" if ";" in header else ","
    metrics = {"loss": [1.0, 0.5, 0.25], "accuracy": [0.5, 0.8, 0.9], "val_loss": [1.1, 0.7, 0.6]}
    rows = [f"{epoch_cells(n, 3 + e)}{name}{separator}{v}" for n, (name, e, v) in
            enumerate((name, e, v) for name, values in metrics.items() for e, v in enumerate(values))]
    path = tmp_path / "history_long.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    log = read_training_log(path)
    assert log.history == metrics and log.first_epoch == first
    assert log.notes[0].startswith("a long table (") and "one column per metric" in log.notes[0]


def test_a_melted_history_puts_each_value_at_the_epoch_its_row_names(tmp_path):
    """A cut-off row, or val_loss logged every other epoch (validation_freq=2), leaves a gap, not a shifted curve."""
    rows = ["epoch,variable,value", *(f"{e},loss,{1 - e / 10}" for e in range(5) if e != 2), "2,loss",
            *(f"{e},val_loss,{1.1 - e / 10}" for e in (0, 2, 4))]
    path = tmp_path / "history_long.csv"
    path.write_text("\n".join(rows) + "\n")
    log = read_training_log(path)
    assert log.history["loss"][:2] == [1.0, 0.9] and math.isnan(log.history["loss"][2])
    assert log.history["loss"][3:] == [0.7, 0.6]
    assert "val_loss" not in log.history  # logged in some epochs only: no curve, as in a wide log


def test_a_wide_log_with_columns_named_metric_and_value_is_no_melted_one(tmp_path):
    path = tmp_path / "training.csv"
    path.write_text("epoch,loss,val_loss,metric,value\n0,1.0,1.1,0.5,0.53\n1,0.8,0.9,0.6,0.61\n")
    log = read_training_log(path)
    assert log.history == {"loss": [1.0, 0.8], "val_loss": [1.1, 0.9], "metric": [0.5, 0.6], "value": [0.53, 0.61]}
    assert not log.notes


def test_no_epoch_column_numbers_from_1_and_no_accuracy_or_validation_is_fine(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("loss\n" + "\n".join(str(2.0 * 0.7 ** e) for e in range(10)) + "\n")
    result = diagnose_log(path)
    assert result.log.first_epoch == 1 and result.log.history.keys() == {"loss"}
    assert result.diagnosis.label.value != "unknown"


@pytest.mark.parametrize("repeat_header", [True, False], ids=["header repeated", "epoch restarts"])
def test_appended_runs_diagnose_the_last_and_say_so(tmp_path, repeat_header):
    first = "0,0.3,2.0\n1,0.4,1.9\n"
    second = "".join(f"{e},{0.5 + 0.05 * e},{1.5 * 0.7 ** e}\n" for e in range(6))
    path = tmp_path / "log.csv"
    path.write_text("epoch,accuracy,loss\n" + first + ("epoch,accuracy,loss\n" if repeat_header else "") + second)
    log = read_training_log(path)
    assert len(log.history["loss"]) == 6 and log.history["loss"][0] == 1.5
    assert log.notes == ("2 runs in the file (appended): the last one, run 2, 6 epochs, is diagnosed",)
    path.write_text("epoch,accuracy,loss\n" + second + ("epoch,accuracy,loss\n" if repeat_header else "") + first)
    log = read_training_log(path)  # a rerun stopped after 2 epochs: too short for a shape, the run before is read
    assert len(log.history["loss"]) == 6 and log.notes == (
        "2 runs in the file (appended): run 1, 6 epochs, the last long enough for a curve's shape, is diagnosed (left "
        "out, too short: run 2, 2 epochs)",)


def test_history_json_plain_wrapped_per_epoch_records_and_per_metric_summaries(tmp_path):
    history = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6], "accuracy": [0.5, 0.8, 0.9]}
    for i, data in enumerate([history, {"history": history, "params": {"epochs": 3}},
                              [{k: v[e] for k, v in history.items()} for e in range(3)],
                              {**history, "model_type": "cnn", "test_accuracy": 0.9},
                              {k: {"values": v, "max": max(v), "mean": sum(v) / 3} for k, v in history.items()}]):
        path = tmp_path / f"h{i}.json"
        path.write_text(json.dumps(data, indent=2))
        log = read_training_log(path)
        assert log.history == history and log.first_epoch == 1 and log.source == "history JSON"
        if i == 3:
            assert "model_type, test_accuracy" in log.notes[0]


def test_a_history_written_by_pandas_to_json(tmp_path):
    """DataFrame(history.history).to_json() keeps each metric as {"0": ..., "1": ...} (the corpus' d010)."""
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"loss": {"0": 1.0, "1": 0.7, "10": 0.2, "2": 0.5}, "val_loss": {"0": 1.1, "1": 0.8,
                                                                                         "10": 0.4, "2": 0.6}}))
    log = read_training_log(path)
    assert log.history == {"loss": [1.0, 0.7, 0.5, 0.2], "val_loss": [1.1, 0.8, 0.6, 0.4]} and log.notes == ()


def test_runs_kept_side_by_side_under_names_diagnose_the_last_and_say_so(tmp_path):
    """Training phases ({"phase_a": ..., "phase_b": ...}, or "p1_loss", "p2_loss", ...) or runs numbered by a loop
    ({"0": ...}), as in the real-log corpus' z014, p006 and z009."""
    head = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6]}
    fine_tuning = {"loss": [0.3, 0.2, 0.15, 0.1], "val_loss": [0.5, 0.45, 0.4, 0.4]}
    path = tmp_path / "phases.json"
    path.write_text(json.dumps({"phase_a": head, "phase_b": {"history": fine_tuning}, "classes": ["a", "b"]}))
    log = read_training_log(path)
    assert log.history == fine_tuning
    assert log.notes == ("2 runs in the file ('phase_a', 'phase_b'): the last one, 'phase_b', is diagnosed",)
    path.write_text(json.dumps({"0": head}))
    log = read_training_log(path)
    assert log.history == head and log.notes == ()
    path.write_text(json.dumps({**{f"p1_{k}": v for k, v in head.items()}, **{f"p2_{k}": v for k, v in fine_tuning.items()}}))
    log = read_training_log(path)  # the phases under prefixes of their own, as in p006
    assert log.history == fine_tuning and "the last one, 'p2', is diagnosed" in log.notes[0]
    path.write_text(json.dumps({"config": {"lr": 0.1}, "scores": {"accuracy": 0.9}}))
    with pytest.raises(ValueError, match="no 'loss' list in the JSON \\(keys: config, scores\\)"):
        read_training_log(path)


@pytest.mark.parametrize("text, history", [
    # the eleventh corpus' c020: every list complete, the file ends after '"lr": ['
    ('{"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.6, 0.4], "lr": [', {"loss": [1.0, 0.5, 0.3],
                                                                         "val_loss": [1.1, 0.6, 0.4]}),
    ('{"loss": [1.0, 0.5, 0.3], "accuracy": [0.5, ', {"loss": [1.0, 0.5, 0.3]}),  # a list cut inside is left out
    ('{"loss": [1.0, 0.5], "val_lo', {"loss": [1.0, 0.5]}),
    ('[{"loss": 1.0, "accuracy": 0.5}, {"loss": 0.7, "accuracy": 0.6}, {"loss": 0.', {"loss": [1.0, 0.7],
                                                                                        "accuracy": [0.5, 0.6]}),
    ('{"phase_a": {"loss": [1.0, 0.9]}, "phase_b": {"loss": [0.8, 0.7], "acc', {"loss": [0.8, 0.7]}),
], ids=["after the last list", "inside a list", "inside a key", "per-epoch records", "nested runs"])
def test_a_json_cut_off_mid_way_is_read_up_to_its_last_complete_entry(tmp_path, text, history):
    """The real-log corpus' z004, p013 and c020: history JSONs committed cut off (a run killed mid-dump)."""
    path = tmp_path / "history.json"
    path.write_text(text)
    log = read_training_log(path)
    assert log.history == history
    assert any(note.startswith("the file is cut off (brackets still open at its end): read up to its last complete "
                               "entry, the last ") for note in log.notes), log.notes


def test_a_json_broken_early_and_cut_off_is_parsed_a_few_times_not_once_per_entry(tmp_path, monkeypatch):
    """Not only cut off but broken near its start: the reader tries the last few whole entries, not all 5,000."""
    path = tmp_path / "history.json"
    records = ", ".join(f'{{"loss": {1 / (k + 1):.4f}, "accuracy": 0.5}}' for k in range(5000))
    path.write_text('[{"loss": oops}, ' + records + ', {"loss": 0.')
    parses = []
    real_loads = logs.json.loads
    monkeypatch.setattr(logs.json, "loads", lambda text, **kw: parses.append(1) or real_loads(text, **kw))
    with pytest.raises(ValueError, match="brackets still open: cut off while it was written"):
        read_training_log(path)
    assert len(parses) < 100, len(parses)  # the text has 10,001 whole-entry cuts; each tried was a full parse


def test_a_json_cut_off_before_any_complete_loss_says_so(tmp_path):
    path = tmp_path / "history.json"
    for cut in ('{"loss": [1.0, 0.5, 0.', '[{"loss": 0.'):
        path.write_text(cut)
        with pytest.raises(ValueError, match="brackets still open: cut off while it was written"):
            read_training_log(path)
    path.write_text('{"accuracy": [0.5, 0.6], "loss": [1.')
    with pytest.raises(ValueError, match=r"no 'loss' list in the JSON \(keys: accuracy\); the file is cut off "
                                         r"\(brackets still open at its end\) before its loss list was complete"):
        read_training_log(path)
    path.write_text('{"loss": [1.0, 0.5, 0.3], "accuracy": [0.5, oops]}')
    with pytest.raises(ValueError, match=r"not valid JSON \(Expecting value: line 1 column 45 \(char 44\)\), nor"):
        read_training_log(path)


def test_a_json_list_of_histories_diagnoses_the_last_and_says_so(tmp_path):
    """The eleventh corpus' m005: `json.dump([h.history for h in fold_histories], f)`."""
    path = tmp_path / "history.json"
    path.write_text(json.dumps([{"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.5]},
                                {"loss": [0.9, 0.4, 0.3, 0.2], "val_loss": [1.0, 0.5, 0.4, 0.35]}]))
    log = read_training_log(path)
    assert log.history == {"loss": [0.9, 0.4, 0.3, 0.2], "val_loss": [1.0, 0.5, 0.4, 0.35]} and log.epochs == 4
    assert log.notes == ("2 runs in the file (a JSON list of histories): the last one, run 2, 4 epochs, is diagnosed",)


def test_a_training_loops_own_log_line_per_epoch(tmp_path):
    """The twelfth corpus' a002: Python logging from a train_on_batch loop; a count that starts again is a new run."""
    lines = ["2024-10-30 13:34:20,539 - INFO - Starting training for Lung Cancer Detection Model"]
    for run, losses in enumerate(([1.2, 0.9, 0.7], [0.6, 0.5, 0.45, 0.4])):
        lines += [f"2024-10-30 13:3{run}:2{k},539 - INFO - Epoch {k + 1}/{len(losses)} - Loss: {loss:.4f}, "
                  f"Accuracy: {0.5 + k / 10:.4f}, Val Loss: {loss + 0.1:.4f}, Val Accuracy: 0.5000"
                  for k, loss in enumerate(losses)]
    path = tmp_path / "training_log.txt"
    path.write_text("\n".join(lines) + "\n")
    log = read_training_log(path)
    assert log.source == "a log line per epoch" and log.first_epoch == 1
    assert log.history == {"Loss": [0.6, 0.5, 0.45, 0.4], "Accuracy": [0.5, 0.6, 0.7, 0.8],
                           "Val Loss": [0.7, 0.6, 0.55, 0.5], "Val Accuracy": [0.5] * 4}
    assert log.notes == ("2 runs in the file (the epoch count starts again): the last one, run 2, 4 epochs, is diagnosed",)
    assert diagnose_log(log, 3).diagnosis.label.value != "unknown"


def test_an_epochs_metrics_on_the_lines_after_its_own(tmp_path):
    """The sixteenth corpus' 16d001: tqdm's TqdmCallback through Python logging logs "Epoch 1:", then the train and
    the validation metrics on a line each; the batch bars' running metrics around them are no epoch's."""
    lines = []
    for epoch, (loss, val_loss) in enumerate([(4.8, 4.4), (3.9, 3.4), (3.1, 3.0)], start=1):
        lines += [f"2025-06-14 22:5{epoch}:19,981 - INFO - 100%|##| 171/171 [00:25<00:00, accuracy=0.02, loss=9.9]",
                  f"2025-06-14 22:5{epoch}:21,314 - INFO - Epoch {epoch}: ",
                  f"2025-06-14 22:5{epoch}:21,315 - INFO - loss={loss:.4f}, accuracy=0.{epoch}, ",
                  f"2025-06-14 22:5{epoch}:21,315 - INFO - val_loss={val_loss:.4f}, val_accuracy=0.{epoch}",
                  f"2025-06-14 22:5{epoch}:21,315 - INFO - {epoch}0%| | {epoch}/10 [00:26, loss=8.8, val_loss=8.8]"]
    path = tmp_path / "train_log.txt"
    path.write_text("\n".join(lines) + "\n")
    log = read_training_log(path)
    assert log.source == "a log line per epoch" and log.first_epoch == 1 and log.notes == ()
    assert log.history == {"loss": [4.8, 3.9, 3.1], "accuracy": [0.1, 0.2, 0.3], "val_loss": [4.4, 3.4, 3.0],
                           "val_accuracy": [0.1, 0.2, 0.3]}


def test_a_history_printed_inside_a_logging_line(tmp_path):
    """The sixteenth corpus' 16c001: `logger.info(history.history)` among the run's other log lines; a dict without a
    loss is no history, and of two histories the last is diagnosed."""
    first = {"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.9, 1.8]}
    last = {"val_loss": [1.0, 0.8, 0.7, 0.75], "loss": [0.9, 0.6, 0.5, 0.4], "acc": [0.5, 0.6, 0.7, 0.8]}
    path = tmp_path / "train.log"
    path.write_text(f"2018-09-15 22:55:41,317 -keras-INFO-cfg:{{'target_size': [299, 299], 'batch_size': 16}}\n"
                    f"2018-09-16 19:41:41,939 -keras-INFO-train:{first}\nsomething else\n"
                    f"2018-09-17 19:41:41,939 -keras-INFO-train:{str(last).replace('0.6', 'np.float64(0.6)')}\n")
    log = read_training_log(path)
    assert log.source == "a history dict printed in a text" and log.history == last
    assert log.notes == ("2 runs in the file (histories printed in the text): the last one, the one at line 4, is "
                         "diagnosed",)


def test_a_table_of_runs_whose_cells_are_lists(tmp_path):
    """The sixteenth corpus' 16c002: a grid search's histories as a DataFrame, a row per run, written with to_csv;
    the columns that are not lists are the run's settings."""
    path = tmp_path / "results.csv"
    path.write_text(',loss,accuracy,val_loss,activation,batch_size\n'
                    '0,"[1.0, 0.8, 0.6]","[0.5, 0.6, 0.7]","[1.1, 0.9, 0.8]",relu,32\n'
                    '1,"[0.9, 0.7, 0.5, 0.4]","[0.5, 0.6, 0.7, 0.8]","[1.0, 0.8, 0.7, 0.7]",tanh,512\n')
    log = read_training_log(path)
    assert log.history == {"loss": [0.9, 0.7, 0.5, 0.4], "accuracy": [0.5, 0.6, 0.7, 0.8],
                           "val_loss": [1.0, 0.8, 0.7, 0.7]} and log.first_epoch == 1
    assert log.notes == ("a row per run, each cell a list of per-epoch values: read as a run each; per-run settings, "
                         "not curves, left out: activation, batch_size",
                         "2 runs in the file (appended): the last one, run 2, 4 epochs, is diagnosed")


@pytest.mark.parametrize("index", [True, False])
def test_a_history_printed_by_pandas_as_an_aligned_table(tmp_path, index):
    """print(pd.DataFrame(history.history)) saved as text: columns padded with spaces, an index column or none, the
    index's name on a line of its own, and "..." for the rows of a long frame pandas shortens."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"loss": np.linspace(2.0, 0.5, 80), "val_loss": np.linspace(2.1, 0.7, 80)})
    frame.insert(0, "epoch", range(1, 81))
    path = tmp_path / "history.txt"
    path.write_text(frame.set_index("epoch").to_string() if index else frame.to_string(index=False))
    log = read_training_log(path)
    assert log.source == "a whitespace-aligned table" and log.epochs == 80 and log.first_epoch == 1
    assert np.allclose(log.history["val_loss"], frame["val_loss"]) and log.notes == ()
    path.write_text(str(frame.drop(columns="epoch")))  # shortened: 5 rows, "...", 5 rows, and "[80 rows x 2 columns]"
    log = read_training_log(path)
    assert log.epochs == 10 and log.first_epoch == 0 and log.notes == (
        "1 line around the table, not its rows, left out",
        "rows pandas printed as '...' are missing: the epochs are the rows read",
        "epochs are counted by the rows read: the file's epoch 75 is epoch 5 here")


def test_a_wide_history_pandas_wrapped_into_blocks_or_shortened_by_columns(tmp_path):
    """A frame wider than the display: to_string(line_width=...) prints blocks of columns one under the other, each
    header but the last ending in a backslash; print(df) may instead hide middle columns as "..."."""
    pd = pytest.importorskip("pandas")
    names = ["loss", "accuracy", "val_loss", "val_accuracy", "auc", "val_auc", "precision", "val_precision", "recall",
             "learning_rate", "f1", "val_f1"]
    frame = pd.DataFrame({name: np.round(np.linspace(1.0, 0.5, 8) * (k + 1), 4) for k, name in enumerate(names)})
    frame.insert(0, "epoch", range(1, 9))
    path = tmp_path / "history.txt"
    for indexed in (frame.set_index("epoch"), frame.drop(columns="epoch")):
        path.write_text(indexed.to_string(line_width=60))
        log = read_training_log(path)
        assert list(log.history) == names and log.notes == ()
        assert all(np.allclose(log.history[name], frame[name]) for name in names)  # no column shifted
    with pd.option_context("display.width", 60, "display.max_columns", 6):
        path.write_text(str(frame.drop(columns="epoch")))
    log = read_training_log(path)
    assert list(log.history) == [*names[:3], *names[-3:]] and np.allclose(log.history["val_f1"], frame["val_f1"])
    assert "columns pandas printed as '...' are missing" in log.notes


def test_what_python_prints_of_a_diverged_run_nan_and_inf(tmp_path):
    """str(history.history) prints a diverged run's losses as nan and inf: read as numbers, in a printed dict, a list
    printed per line and a table of runs; the dict may hold another dict; a row without a list of losses is named."""
    path = tmp_path / "train.log"
    path.write_text("INFO train:{'loss': [2.0, 1.5, 1.2], 'val_loss': [2.1, 1.9, 1.8]}\n"
                    "INFO train:{'loss': [1.0, nan, inf], 'val_loss': [np.float32(1.1), -inf, nan], "
                    "'params': {'epochs': 3}}\n")
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, pytest.approx(math.nan, nan_ok=True), math.inf]
    assert log.history["val_loss"][1] == -math.inf and math.isnan(log.history["val_loss"][2])
    assert log.notes[0].startswith("2 runs in the file") and log.notes[1] == "not per-epoch lists, left out: params"
    path.write_text("loss: [1.0, nan]\nval_loss: [np.float32(1.1), inf]\n")
    assert read_training_log(path).history["val_loss"] == [1.1, math.inf]
    path = tmp_path / "runs.csv"
    path.write_text(',loss,val_loss,layers,lr\n0,"[1.0, 0.8, 0.6]","[1.1, 0.9, 0.8]","[64, 32]",0.1\n'
                    '1,"[0.9 nan nan]","[1.0 nan nan]","[64, 32]",1.0\n2,diverged,,,\n')
    log = read_training_log(path)
    assert log.history["loss"][0] == 0.9 and math.isnan(log.history["loss"][2]) and set(log.history) == {
        "loss", "val_loss"}
    assert log.notes[0] == ("a row per run, each cell a list of per-epoch values: read as a run each; per-run "
                            "settings, not curves, left out: layers, lr; 1 row without a list of losses left out")


def test_a_printed_dict_is_read_only_where_nothing_else_is(tmp_path):
    """An evaluate() printed as a dict after a log line per epoch, and a CSV with a dict in a cell, stay what they
    are; lines of running batch metrics after "Epoch N" are no epoch's metrics: the file is refused."""
    path = tmp_path / "train.log"
    path.write_text("".join(f"Epoch {e} - loss: {1 / e:.2f}, val_loss: {1.1 / e:.2f}\n" for e in (1, 2, 3)) +
                    "evaluate: {'loss': [0.55], 'accuracy': [0.9]}\n")
    assert read_training_log(path).history["loss"] == [1.0, 0.5, 0.33]
    path.write_text('epoch,loss,config\n0,1.0,"{\'loss\': [0.1, 0.01]}"\n1,0.8,x\n2,0.6,x\n')
    assert read_training_log(path).history == {"loss": [1.0, 0.8, 0.6]}
    path.write_text("Epoch 1\nloss: 3.0\nloss: 2.9\nEpoch 2\nloss: 1.5\nloss: 1.4\n")
    with pytest.raises(ValueError, match="no 'loss' column"):
        read_training_log(path)


def test_a_logging_report_of_aligned_tables_with_spaces_in_their_names(tmp_path):
    """The fifteenth corpus' 15c002: a report per run, each a table printed with to_string(index=False) whose
    names hold a space; the last run is diagnosed."""
    report = ("=" * 40 + "\nThu Jul 26 16:11:47 2018\nHYPERPARAMETERS:\nlearning-rate =0.001\nTraining Summary:\n"
              "{header}\n 1.25  0.45  0.50  0.46\n 0.57  0.52  0.79  0.53\n 0.40  0.54  0.84  0.55\n"
              "Remarks: Highly overfitting\n\n")
    path = tmp_path / "train.log"
    path.write_text(report.format(header="train acc    va_acc  train_loss  val_loss") +
                    report.format(header="train loss  val_loss  train_acc   val_acc"))
    log = read_training_log(path)
    assert log.source == "a whitespace-aligned table"
    assert log.history == {"loss": [1.25, 0.57, 0.40], "val_loss": [0.45, 0.52, 0.54], "accuracy": [0.5, 0.79, 0.84],
                           "val_accuracy": [0.46, 0.53, 0.55]}
    assert log.notes == ("12 lines around the table, not its rows, left out",
                         "2 runs in the file (appended): the last one, run 2, 3 epochs, is diagnosed")


def test_metric_lists_printed_one_per_line(tmp_path):
    """The twelfth corpus' a009: `for k, v in history.history.items(): print(f"{k}: {v}")` saved as text."""
    path = tmp_path / "history.txt"
    path.write_text("accuracy: [0.5, 0.6, 0.7]\nloss: [1.0, 0.8, 0.6]\n\nval_loss: [np.float64(1.1), "
                    "np.float64(0.9), np.float64(0.8)]\n")
    log = read_training_log(path)
    assert log.source == "metric lists, one per line"
    assert log.history == {"accuracy": [0.5, 0.6, 0.7], "loss": [1.0, 0.8, 0.6], "val_loss": [1.1, 0.9, 0.8]}
    path.write_text("accuracy: [0.5, 0.6, 0.7]\nval_accuracy: [0.5, 0.6, 0.7]\n")
    with pytest.raises(ValueError, match=r"no 'loss' list \(keys: accuracy, val_accuracy\)"):
        read_training_log(path)


def test_epochs_are_counted_under_any_name_of_the_loss(tmp_path):
    """The eleventh corpus' b008: train_loss, train_acc, val_loss, val_acc."""
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"train_loss": [1.0, 0.5, 0.4], "train_acc": [0.5, 0.7, 0.8], "val_loss": [1, 1, 1]}))
    log = read_training_log(path)
    assert log.epochs == 3 and diagnose_log(log, 2).to_dict()["epochs"] == 3


def test_a_history_dumped_as_its_python_repr_bare_or_inside_a_json_string(tmp_path):
    """`json.dump(str(history.history), f)` and `f.write(str(history.history))`: single quotes, not JSON."""
    history = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6]}
    for i, text in enumerate([json.dumps(str(history)), str(history)]):
        path = tmp_path / f"h{i}.json"
        path.write_text(text)
        assert read_training_log(path).history == history
    quoted_csv = tmp_path / "quoted.csv"
    quoted_csv.write_text('"epoch","loss"\n0,1.0\n1,0.5\n2,0.4\n')  # a CSV whose header is quoted stays a CSV
    assert read_training_log(quoted_csv).history == {"loss": [1.0, 0.5, 0.4]}


def test_a_history_dict_is_diagnosed_directly():
    result = diagnose_log({"loss": [2.3, 1.0, 0.5, 0.3, 0.2], "binary_accuracy": [0.6, 0.8, 0.9, 0.95, 0.97]})
    assert result.num_classes == 2 and "binary_accuracy" in result.classes_from and result.skipped == ()
    assert result.to_dict()["classes"] == 2


def _write_tensorboard(folder, keras3: bool) -> None:
    import tensorflow as tf

    curves = {"loss": [1.5, 0.9, 0.6, 0.5, 0.45], "accuracy": [0.5, 0.7, 0.8, 0.85, 0.87]}
    val = {"loss": [1.3, 0.9, 0.7, 0.65, 0.6], "accuracy": [0.55, 0.7, 0.78, 0.8, 0.82]}
    if keras3:  # train/ and validation/, tensors named epoch_*
        for sub, values in (("train", curves), ("validation", val)):
            with tf.summary.create_file_writer(str(folder / sub)).as_default():
                for name, series in values.items():
                    for step, value in enumerate(series):
                        tf.summary.scalar(f"epoch_{name}", value, step=step)
                tf.summary.text("keras", "{\"model\": 1}", step=0)  # Keras 3 logs its model config as text
        return
    with tf.summary.create_file_writer(str(folder)).as_default():  # Keras 2 style: one folder, val_ names
        for name, series in {**curves, **{f"val_{k}": v for k, v in val.items()}}.items():
            for step, value in enumerate(series):
                tf.summary.scalar(name.replace("accuracy", "acc"), value, step=step)


@pytest.mark.parametrize("keras3", [True, False], ids=["keras 3 train/validation", "keras 2 one folder"])
def test_a_tensorboard_folder(tmp_path, keras3):
    _write_tensorboard(tmp_path, keras3)
    log = read_training_log(tmp_path)
    assert log.source == "TensorBoard folder" and log.first_epoch == 0
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(log.history)
    assert np.allclose(log.history["val_loss"], [1.3, 0.9, 0.7, 0.65, 0.6])


def test_the_console_output_of_a_real_keras_fit(tmp_path):
    """What `model.fit(verbose=1)` prints, saved as text (`python train.py > log.txt`), read back as its history."""
    import contextlib
    import io

    import keras

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 2, 64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        history = model.fit(x, y, epochs=3, batch_size=16, validation_data=(x, y), verbose=1).history
        model.evaluate(x, y, batch_size=16, verbose=1)  # a bar of its own, as long as the epoch's: not an epoch
    path = tmp_path / "train.txt"
    path.write_text(printed.getvalue())
    log = read_training_log(path)
    assert log.source == "Keras console output" and log.first_epoch == 1 and log.notes == ()
    assert set(log.history) == set(history)
    for name, values in history.items():
        assert np.allclose(log.history[name], values, atol=1e-4), name  # printed with 4 decimals


KERAS2_EPOCH = ("Epoch {e}/3\n 1/4 [======>.......] - ETA: 2s - loss: 9.9 - acc: 0.1\x08\x08\x08\x08\r"
                "4/4 [==============================] - 1s 250ms/step - loss: {loss} - acc: 0.5 - val_loss: {val} - "
                "val_acc: 0.6 - lr: 1.0000e-03\n")


def test_console_output_of_two_fits_utf16_with_an_unfinished_last_epoch(tmp_path):
    """Keras 2's bar (backspaces, ETA), a second fit (fine-tuning) counting from 1 again, the epoch Ctrl-C cut short
    (left with 2 epochs, too few for a shape: the first fit is read, as in 23d004),
    and PowerShell's UTF-16 with a byte-order mark (`python train.py > log.txt`), as in the seventh corpus' y003."""
    first = "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e) for e in (1, 2, 3))
    second = "".join(KERAS2_EPOCH.format(e=e, loss=0.2 / e, val=0.3 / e) for e in (1, 2))
    cut = "Epoch 3/3\n 2/4 [=============>................] - ETA: 1s - loss: 0.0500 - acc: 0.9800\n"
    path = tmp_path / "log.txt"
    path.write_bytes(("Found 64 images belonging to 2 classes.\n" + first + second + cut).encode("utf-16"))
    log = read_training_log(path)
    assert np.allclose(log.history["loss"], [1, 1 / 2, 1 / 3]) and np.allclose(log.history["val_loss"], [1.1, 0.55, 1.1 / 3])
    assert set(log.history) == {"loss", "acc", "val_loss", "val_acc", "lr"} and log.history["lr"] == [0.001] * 3
    assert log.notes == ("2 runs in the file (fit called again): run 1, 3 epochs, the last long enough for a curve's "
                         "shape, is diagnosed (left out, too short: run 2, 2 epochs)",)  # run 2's cut epoch 3 with it


def test_an_epoch_cut_short_after_its_last_step_but_before_validation_is_left_out(tmp_path):
    """The twenty-seventh corpus' 27f004: Ctrl-C during epoch 4's validation leaves a full bar with a loss and no
    val_ metrics. It is no whole epoch: left out and named, the val columns of the others kept."""
    epochs = "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e).replace(f"{e}/3", f"{e}/9") for e in (1, 2, 3))
    cut = "Epoch 4/9\n4/4 [==============================] - 1s 250ms/step - loss: 0.2400 - acc: 0.5000\nKeyboardInterrupt\n"
    path = tmp_path / "log.txt"
    path.write_text(epochs + cut)
    log = read_training_log(path)
    assert log.epochs == 3 and np.allclose(log.history["val_loss"], [1.1, 0.55, 1.1 / 3])
    assert log.notes == ("epoch 4 did not finish (no metrics for the whole epoch): left out",)


def test_an_epoch_line_run_into_the_bar_before_it_still_starts_its_epoch(tmp_path):
    """The twenty-seventh corpus' 27a009: epoch 1's last bar lost its line end ("accuracy: 0.5123Epoch 2/100") and
    its own metrics were never saved: epochs 2 on keep their numbers, epoch 1 is named as left out."""
    text = ("Epoch 1/5\n2/8 [======>.......] - ETA: 3s - loss: 0.9000 - accuracy: 0.5123Epoch 2/5\n" +
            "".join(f"8/8 [==============================] - 2s 200ms/step - loss: {1 / e:.4f} - accuracy: 0.6000 - "
                    f"val_loss: {1.1 / e:.4f} - val_accuracy: 0.5500\n" + (f"Epoch {e + 1}/5\n" if e < 5 else "")
                    for e in (2, 3, 4, 5)))
    path = tmp_path / "log.txt"
    path.write_text(text)
    log = read_training_log(path)
    assert log.first_epoch == 2 and log.history["loss"] == [0.5, 0.3333, 0.25, 0.2]
    assert log.notes == ("epoch 1 did not finish (no metrics for the whole epoch): left out",)


def test_an_epoch_line_printed_twice_is_one_epoch(tmp_path):
    """The twenty-eighth corpus' 28d008: tqdm's TqdmCallback prints "Epoch k/N" and an empty bar beside Keras' own
    line, so each epoch's line comes twice; only the last epoch, its lines printed before a traceback, is unfinished."""
    text = "".join(f"Epoch {e}/9\n0/8 \u2026\nEpoch {e}/9\n8/8 - 2s - loss: {1 / e:.4f} - accuracy: 0.6000 - val_loss: "
                   f"{1.1 / e:.4f} - val_accuracy: 0.5500 - 2s/epoch - 250ms/step\n" for e in (1, 2, 3, 4))
    path = tmp_path / "log.txt"
    path.write_text(text + "Epoch 5/9\n0/8 \u2026\nEpoch 5/9\nTraceback (most recent call last):\n")
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, 0.5, 0.3333, 0.25] and log.first_epoch == 1
    assert log.notes == ("epoch 5 did not finish (no metrics for the whole epoch): left out",)


def test_a_stream_doubled_one_line_late_is_one_epoch_per_metrics_line(tmp_path):
    """The thirty-sixth corpus' 36c002: every line of fit's output came twice, the copy one line late, so after each
    "Epoch k/N" comes the last epoch's metrics again, then "Epoch k/N" again and epoch k's own. Read as printed,
    each repeated line started a new fit and one epoch was left; each epoch is its own metrics, once."""
    def metrics(e: int) -> str:
        return f"9/9 [=====] - 3s 300ms/step - loss: {1 / e:.4f} - accuracy: 0.6000 - val_loss: {1.1 / e:.4f}\n"
    text = "Epoch 1/9\n" + metrics(1) + "".join(f"Epoch {e}/9\n{metrics(e - 1)}Epoch {e}/9\n{metrics(e)}"
                                                for e in (2, 3, 4, 5))
    path = tmp_path / "log.txt"
    path.write_text(text + "Epoch 5: early stopping\n" + metrics(5) + "Epoch 5: early stopping\n")
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, 0.5, 0.3333, 0.25, 0.2] and log.first_epoch == 1 and log.notes == ()


def test_a_stuck_epoch_printed_alike_is_still_an_epoch(tmp_path):
    """Only a repeated "Epoch k/N" line makes equal metrics a copy: a stuck model prints the same line in each epoch,
    and each is an epoch."""
    path = tmp_path / "log.txt"
    path.write_text("".join(f"Epoch {e}/4\n9/9 - 1s - loss: 0.6931 - accuracy: 0.5000\n" for e in (1, 2, 3, 4)))
    assert read_training_log(path).history["loss"] == [0.6931] * 4


@pytest.mark.parametrize("line_end", ["", "\n"])
def test_the_epoch_1_line_tf_1_15_prints_as_validation_starts_is_no_new_fit(tmp_path, line_end):
    """The thirty-third corpus' 33g008 (tensorflow/tensorflow#34619): fit_generator prints "Epoch 1/N" again in every
    epoch as validation starts, after the training bar (glued to its last number, or on a line of its own), before
    the epoch's line of metrics. Each epoch is one epoch of one fit, not a fit started again."""
    text = "".join(f"Epoch {e}/4\n5/6 [====>.] - ETA: 1s - loss: {1 / e:.4f} - acc: 0.6000{line_end}Epoch 1/4\n"
                   f"6/6 [=====] - 9s 2s/step - loss: {1 / e:.4f} - acc: 0.6000 - val_loss: {1.1 / e:.4f} - val_acc: "
                   f"0.5500\n" for e in (1, 2, 3, 4))
    path = tmp_path / "log.txt"
    path.write_text(text)
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, 0.5, 0.3333, 0.25] and log.first_epoch == 1 and log.notes == ()


def _validated_epoch(e: int, of: int = 4, scale: float = 1.0) -> str:
    return f"Epoch {e}/{of}\n6/6 [=====] - 9s 2s/step - loss: {scale / e:.4f} - val_loss: {1.1 * scale / e:.4f}\n"


_STRAYS = "Epoch 1/4\n5/6 [====>.] - ETA: 1s - loss: 0.5100Epoch 1/4\n"  # on a line of its own, then glued to the bar


@pytest.mark.parametrize("stray_epoch", [2, 4])
def test_the_stray_epoch_1_lines_of_one_epoch_are_no_new_fit(tmp_path, stray_epoch):
    """The ninety-fifth corpus' 95h010: "Epoch 1/N" twice in epoch 2 only, then epoch 2's metrics and "Epoch 3/N":
    the count goes on, so one fit of four epochs; so is it in the last epoch, with nothing after it."""
    path = tmp_path / "log.txt"
    path.write_text("".join(_validated_epoch(e).replace("\n6/6", f"\n{_STRAYS}6/6", e == stray_epoch)
                            for e in (1, 2, 3, 4)))
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, 0.5, 0.3333, 0.25] and log.first_epoch == 1 and log.notes == ()


def test_a_fit_started_again_inside_a_validation_with_strays_elsewhere_is_a_new_fit(tmp_path):
    """Strays in every epoch of a run killed in epoch 3 as it validated, then a new fit in the same log: the count does
    not go on after epoch 3's "Epoch 1/4" lines ("Epoch 2/4" follows), so the second fit is read, from its epoch 1."""
    def with_strays(e: int, scale: float) -> str:
        return _validated_epoch(e, scale=scale).replace("\n6/6", f"\n{_STRAYS}6/6")
    path = tmp_path / "log.txt"
    path.write_text(with_strays(1, 1) + with_strays(2, 1) + "Epoch 3/4\n" + _STRAYS
                    + "".join(with_strays(e, 2) for e in (1, 2, 3, 4)))
    log = read_training_log(path)
    assert log.history["loss"] == [2.0, 1.0, 0.6667, 0.5] and log.first_epoch == 1
    assert "fit called again" in " ".join(log.notes)


def test_a_fit_started_again_after_an_unfinished_epoch_is_a_new_fit(tmp_path):
    """One "Epoch 1/N" after an epoch without metrics is not TF 1.15's stray line (the count starts again after it):
    a run killed in its third epoch, then started again in the same log, gives two fits, and the second is read."""
    def epochs(numbers, scale):
        return "".join(f"Epoch {e}/5\n4/4 - 1s - loss: {scale / e:.4f} - accuracy: 0.6000\n" for e in numbers)
    path = tmp_path / "log.txt"
    path.write_text(epochs((1, 2), 1) + "Epoch 3/5\n2/4 [==>..] - ETA: 1s - loss: 0.3000\n" + epochs((1, 2, 3, 4, 5), 2))
    log = read_training_log(path)
    assert log.history["loss"] == [2.0, 1.0, 0.6667, 0.5, 0.4]
    assert "fit called again" in " ".join(log.notes)


def _odd_epochs_validated(even_epoch: Callable[[int], str]) -> str:
    """Eight epochs of Keras 3's console output: the odd ones whole and validated, the even ones' line from its step
    time on as given (an epoch that ran out of data, in the tests below)."""
    def epoch(e: int) -> str:
        if e % 2 == 0:
            return f"Epoch {e}/8\n8/8 \u2501\u2501\u2501 {even_epoch(e)}\n"
        return (f"Epoch {e}/8\n8/8 \u2501\u2501\u2501 2s 250ms/step - accuracy: 0.6000 - loss: {1 / e:.4f} - val_accuracy: "
                f"0.5500 - val_loss: {1.1 / e:.4f} - learning_rate: 1.0000e-03\n")
    return "".join(map(epoch, range(1, 9)))


@pytest.mark.parametrize("validated", ["", " - val_accuracy: 0.0000e+00 - val_loss: 0.0000e+00"])
def test_epochs_in_which_the_input_ran_out_of_data_are_left_out(tmp_path, validated):
    """The twenty-ninth corpus' 29b004 (Keras 3, steps_per_epoch=len(generator) without a repeat): every second epoch
    ran no batch and prints a loss and accuracy of 0, without validation or with val_ metrics of 0 (24e002, 27e005).
    They are left out and named; the val columns of the others are kept."""
    path = tmp_path / "log.txt"
    path.write_text(_odd_epochs_validated(lambda e: f"0s 40us/step - accuracy: 0.0000e+00 - loss: 0.0000e+00{validated}"
                                                    " - learning_rate: 1.0000e-03"))
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, 0.3333, 0.2, 0.1429] and len(log.history["val_loss"]) == 4
    assert log.notes == ("epoch 2, 4, 6, 8 ran out of data (every metric 0, no batch ran): left out, the curve's epochs "
                         "counted without them",)


@pytest.mark.parametrize(("leftover_pace", "left_out"), [("300us", True), ("9ms", True), ("240ms", False)])
def test_epochs_that_ran_the_inputs_leftover_batch_are_left_out(tmp_path, leftover_pace, left_out):
    """The thirty-sixth corpus' 36f009 (Keras 3, steps_per_epoch=len(x) // batch_size on a generator that does not
    repeat): every second epoch ran what the one before left, a batch at most, in a tenth of an epoch's time a step
    or less, without validation, and prints that batch's metrics. They are left out; an unvalidated epoch at the
    pace of the others is validation_freq=2, every epoch kept and the val_ columns left out."""
    text = _odd_epochs_validated(lambda e: f"0s {leftover_pace}/step - accuracy: 0.9000 - loss: {0.5 / e:.4f}")
    path = tmp_path / "log.txt"
    path.write_text(text.replace("Epoch 3/8\n", "Epoch 3/8\nUserWarning: Your input ran out of data; interrupting "
                                                 "training.\n"))
    log = read_training_log(path)
    if left_out:
        assert log.history["loss"] == [1.0, 0.3333, 0.2, 0.1429] and len(log.history["val_loss"]) == 4
        assert log.notes[0].startswith("epoch 2, 4, 6, 8 ran out of data (the input's last batch at most")
    else:
        assert len(log.history["loss"]) == 8 and "val_loss" not in log.history


def test_a_loss_of_0_is_an_empty_epoch_only_beside_an_accuracy_of_0_or_a_later_loss(tmp_path):
    """Without an accuracy, a model that reached a loss of 0 (a regression fit to the last digit) keeps its epochs;
    a second fit whose every epoch ran no batch is no run, and the first is read."""
    def log(losses: list[float]) -> str:
        return "".join(f"Epoch {e}/{len(losses)}\n4/4 - 1s - loss: {loss:.4e} - mae: {loss:.4e}\n"
                       for e, loss in enumerate(losses, start=1))
    converged = tmp_path / "converged.txt"
    converged.write_text(log([0.5, 0.1, 0.01, 0.0, 0.0]))
    assert read_training_log(converged).history["loss"] == [0.5, 0.1, 0.01, 0.0, 0.0]
    emptied = tmp_path / "emptied.txt"
    emptied.write_text(log([0.5, 0.1, 0.02]) + "".join(f"Epoch {e}/3\n4/4 - 0s - loss: 0.0000e+00 - accuracy: "
                                                          f"0.0000e+00\n" for e in (1, 2, 3)))
    log_read = read_training_log(emptied)
    assert log_read.history["loss"] == [0.5, 0.1, 0.02] and not log_read.notes


def test_what_a_longer_bar_left_after_an_epochs_last_line_is_not_its_metrics(tmp_path):
    """The twenty-ninth corpus' 29h010 (Keras 2 in a notebook): a carriage return left the end of a longer progress
    line after the epoch's last one ("val_acc: 0.9400- ETA: 0s - loss: ...", "val_acc: 0.9400: 1s - - ETA: ..."): the
    epoch is over at its step time, and its own metrics come first."""
    tails = ["", "- ETA: 0s - loss: 0.9000", ": 1s -  - ETA: 1s - loss: 0.9000 - acc: - ETA: 2s - loss", "A:  - ETA: 1s",
             " 1s - loss: 0.9000 "]
    text = "".join(f"Epoch {e}/5\n9000/9000 [==============================] - 3s 300us/step - loss: {1 / e:.4f} - acc: "
                   f"0.8000 - val_loss: {1.1 / e:.4f} - val_acc: 0.9400{tails[e - 1]}\n" for e in (1, 2, 3, 4, 5))
    path = tmp_path / "log.txt"
    path.write_text(text)
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, 0.5, 0.3333, 0.25, 0.2] and log.history["val_acc"] == [0.94] * 5
    assert not log.notes  # the last tail (37g003, 22e014, 27c002) had cost the column: printed in some epochs only


def _notebook(*cells: tuple[str, list[dict]]) -> str:
    """A Jupyter notebook (nbformat 4) of code cells, each its source and its saved outputs."""
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Training"]},
        *({"cell_type": "code", "execution_count": count, "metadata": {}, "source": [source], "outputs": outputs}
          for count, (source, outputs) in enumerate(cells, start=1))]}, indent=1)


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text.splitlines(keepends=True)}


def test_a_jupyter_notebooks_last_cell_with_a_training_log_is_read(tmp_path):
    """The eighteenth corpus' notebooks: model.fit's output saved in a cell, then an evaluate and a plot, then a
    second fit (fine-tuning) in a cell of its own: that last one is diagnosed, and the note names its cell."""
    first = "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e) for e in (1, 2, 3))
    second = "".join(KERAS2_EPOCH.format(e=e, loss=0.6 / e, val=0.3 * e) for e in (1, 2, 3))
    path = tmp_path / "train.ipynb"
    path.write_text(_notebook(
        ("import keras", []),
        ("history = model.fit(...)", [_stream(first)]),
        ("model.evaluate(x, y)", [_stream("4/4 [====] - 0s 2ms/step - loss: 0.5 - acc: 0.8\n"),
                                  {"output_type": "execute_result", "execution_count": 3, "metadata": {},
                                   "data": {"text/plain": ["[0.5, 0.8]"]}}]),
        ("plt.plot(history.history['loss'])", [{"output_type": "display_data", "metadata": {},
                                                "data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure>"]}}]),
        ("history_fine = model.fit(...)", [_stream(second + second)]),
        ("model.fit(x, y, epochs=3)  # stopped by hand", [_stream(KERAS2_EPOCH.format(e=1, loss=9, val=9) + "Epoch 2/3\n"),
                                                          {"output_type": "error", "ename": "KeyboardInterrupt",
                                                           "evalue": "", "traceback": []}])))
    log = read_training_log(path)
    assert np.allclose(log.history["loss"], [0.6, 0.3, 0.2]) and np.allclose(log.history["val_loss"], [0.3, 0.6, 0.9])
    assert log.first_epoch == 1
    assert log.source == "Keras console output in a Jupyter notebook's cell 6 (In [5])"
    assert log.notes == ("3 runs in the file (notebook cells with a training log): cell 6 (In [5]), 3 epochs, the last "
                         "long enough for a curve's shape, is diagnosed (left out, too short: cell 7 (In [6]), 1 epoch)",
                         "2 runs in the file (fit called again): the last one, run 2, 3 epochs, is diagnosed")


def test_a_history_dict_shown_as_a_notebook_cells_value(tmp_path):
    """`history.history` as the last line of a cell: the notebook keeps its repr as the cell's text/plain value."""
    path = tmp_path / "history.ipynb"
    value = "{'loss': [1.0, 0.8, 0.6], 'accuracy': [0.5, 0.6, 0.7],\n 'val_loss': [1.1, 0.9, 0.8]}"
    path.write_text(_notebook(("history.history", [{"output_type": "execute_result", "execution_count": 1,
                                                    "metadata": {}, "data": {"text/plain": value}}])))
    log = read_training_log(path)
    assert log.history == {"loss": [1.0, 0.8, 0.6], "accuracy": [0.5, 0.6, 0.7], "val_loss": [1.1, 0.9, 0.8]}
    assert log.notes == () and log.source == "history JSON in a Jupyter notebook's cell 2 (In [1])"
    assert diagnose_log(path).diagnosis.label.value  # a readable notebook gets a diagnosis


def test_what_a_carriage_return_left_of_a_longer_bar_after_an_epochs_line(tmp_path):
    """The eighteenth corpus' 18a007: a notebook keeps the tail of an ETA bar the shorter final line overwrote."""
    path = tmp_path / "out.txt"
    path.write_text("".join(f"Epoch {e}/3\n12/12 [======] - 0s 3ms/step - loss: {1 / e:.4f} - accuracy: 0.{e}000"
                            + (": 1s - loss: 9.9000 - accuracy: \n" if e == 2 else "\n") for e in (1, 2, 3)))
    log = read_training_log(path)
    assert log.history == {"loss": [1.0, 0.5, 0.3333], "accuracy": [0.1, 0.2, 0.3]} and log.notes == ()


def test_a_bar_that_ran_past_its_total_ends_its_epoch(tmp_path):
    """The twenty-first corpus' 21d008: Keras 2's fit_generator with steps_per_epoch rounded down prints "133/132";
    a bar short of its total is still no epoch's end."""
    path = tmp_path / "out.txt"
    path.write_text("".join(f"Epoch {e}/4\n133/132 [======] - 54s 403ms/step - loss: {1 / e:.4f} - acc: 0.{e}000\n"
                            for e in (1, 2, 3)) + "Epoch 4/4\n 60/132 [==>...] - loss: 0.2000 - acc: 0.5000\n")
    log = read_training_log(path)
    assert log.history == {"loss": [1.0, 0.5, 0.3333], "acc": [0.1, 0.2, 0.3]}, log


def test_a_bars_updates_run_into_one_line_and_a_line_still_showing_an_eta(tmp_path):
    """The nineteenth corpus' 19c008: a notebook that lost its backspaces runs every update of an epoch into one line,
    the epoch's own metrics after the last step time; 18a007: a full bar still showing an ETA is an update, not the
    epoch's end; 19d010: a longer bar's rest glued to the last number."""
    updates = " - ETA: 1:05 - loss: 9.1000 - binary_accuracy: 0.10 - ETA: 40s - loss: 8.2000 - binary_accuracy: 0.20"
    path = tmp_path / "out.txt"
    path.write_text(
        "Epoch 1/3\n 10/100 [==>.....]" + updates + " - 96s 1s/step - loss: 0.5000 - binary_accuracy: 0.7000 - "
        "val_loss: 0.6000 - val_binary_accuracy: 0.6500\n"
        "Epoch 2/3\n100/100 [==========] - ETA: 0s - loss: 0.4100 - binary_accuracy: 0.79 - 0s 2ms/step - loss: "
        "0.4000 - binary_accuracy: 0.8000 - val_loss: 0.5000 - val_binary_accuracy: 0.7500\n"
        "Epoch 3/3\n100/100 [==========] - 3s 30ms/step - loss: 0.3000 - binary_accuracy: 0.8500 - val_loss: 0.4500 - "
        "val_binary_accuracy: 0.8000ccuracy: 0.8\n")
    log = read_training_log(path)
    assert log.history == {"loss": [0.5, 0.4, 0.3], "binary_accuracy": [0.7, 0.8, 0.85], "val_loss": [0.6, 0.5, 0.45],
                           "val_binary_accuracy": [0.65, 0.75, 0.8]} and log.notes == ()


def test_a_zero_width_space_after_a_history_dict(tmp_path):
    path = tmp_path / "train_results.txt"
    path.write_text("{'loss': [1.0, 0.8, 0.6],\n 'val_loss': [1.1, 0.9, 0.8]}\n\u200b")
    assert read_training_log(path).history == {"loss": [1.0, 0.8, 0.6], "val_loss": [1.1, 0.9, 0.8]}


def test_a_later_cell_showing_part_of_the_history_or_its_summary_is_not_the_log(tmp_path):
    """hist.tail() after the fit (the TensorFlow tutorials), describe(), and a figure's text with no newline before
    the next cell output's "Epoch 1/N": the fit's own output is diagnosed, every epoch of it."""
    epochs = "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e) for e in (1, 2, 3)).replace("/3\n", "/5\n")
    epochs += "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e).replace(f"{e}/3", f"{e}/5") for e in (4, 5))
    tail = "      loss  acc  val_loss  val_acc     lr  epoch\n2  0.333333  0.5  0.366667  0.6  0.001  2\n" \
           "3  0.250000  0.5  0.275000  0.6  0.001  3\n4  0.200000  0.5  0.220000  0.6  0.001  4"
    summary = "        loss   val_loss\ncount  5.000000  5.000000\nmean  0.456667  0.502333\nstd  0.3  0.33\n" \
              "min  0.2  0.22\n25%  0.25  0.275\n50%  0.333  0.3667\n75%  0.5  0.55\nmax  1.0  1.1"
    figure = {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "<Figure size 640x480>"}}
    path = tmp_path / "tutorial.ipynb"
    path.write_text(_notebook(("history = model.fit(...)", [figure, _stream(epochs)]),
                              ("pd.DataFrame(history.history).tail(3)", [
                                  {"output_type": "execute_result", "execution_count": 2, "metadata": {},
                                   "data": {"text/plain": tail}}]),
                              ("pd.DataFrame(history.history).describe()", [
                                  {"output_type": "execute_result", "execution_count": 3, "metadata": {},
                                   "data": {"text/plain": summary}}])))
    log = read_training_log(path)
    assert log.epochs == 5 and log.first_epoch == 1 and log.source.endswith("cell 2 (In [1])")
    assert log.notes == ("showing part of earlier cells' histories (a head or tail), left out: cell 3 (In [2])",)


def test_a_tail_whose_training_loss_is_historys_not_the_bars_is_still_a_tail(tmp_path):
    """The forty-seventh corpus' 47b002: Keras' bar prints a running mean of the training loss that History does not
    keep (keras-team/keras#20212), so the tail() after the fit matches the bar's val losses to the digit and its
    losses within a few percent: still the fit's tail, and the fit is diagnosed. Without val losses to match, a loss a
    few percent off is a run of its own, unless the cell's code says it shows a frame's tail."""
    epochs = "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e).replace(f"{e}/3", f"{e}/5") for e in range(1, 6))
    tail = ("      loss  acc  val_loss  val_acc\n2  0.339000  0.5  0.366667  0.6\n3  0.254000  0.5  0.275000  0.6\n"
            "4  0.202500  0.5  0.220000  0.6")
    result = {"output_type": "execute_result", "execution_count": 2, "metadata": {}, "data": {"text/plain": tail}}
    path = tmp_path / "tutorial.ipynb"
    path.write_text(_notebook(("history = model.fit(...)", [_stream(epochs)]), ("history_df.tail(3)", [result])))
    log = read_training_log(path)
    assert log.epochs == 5 and log.source.endswith("cell 2 (In [1])")
    assert log.notes == ("showing part of earlier cells' histories (a head or tail), left out: cell 3 (In [2])",)
    no_val = "\n".join(" ".join(line.split()[:3]) for line in tail.splitlines())
    result["data"]["text/plain"] = no_val
    path.write_text(_notebook(("history = model.fit(...)", [_stream(epochs)]), ("history_df", [result])))
    assert read_training_log(path).source.endswith("cell 3 (In [2])")
    path.write_text(_notebook(("history = model.fit(...)", [_stream(epochs)]), ("history_df.tail(3)", [result])))
    assert read_training_log(path).notes == (
        "showing a frame's first or last rows (.head(), .tail()), left out: cell 3 (In [2])",)


def test_a_head_of_a_history_reloaded_from_a_file_is_not_the_log_unless_it_is_the_only_one(tmp_path):
    """The sixty-third corpus' 63f004: a 20-epoch fit, then pd.read_csv("history.csv").head() of a history whose
    numbers no cell printed (another run's): the fit is diagnosed. A notebook whose only log is such a head is read."""
    epochs = "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e).replace(f"{e}/3", f"{e}/6") for e in range(1, 7))
    head = "   accuracy  loss  val_accuracy  val_loss\n" + "\n".join(
        f"{e}  0.{50 + e}  {2.0 - e / 10:.2f}  0.{40 + e}  {2.1 - e / 10:.2f}" for e in range(5))
    shown = {"output_type": "execute_result", "execution_count": 2, "metadata": {}, "data": {"text/plain": head}}
    path = tmp_path / "plants.ipynb"
    path.write_text(_notebook(("history = model.fit(...)", [_stream(epochs)]),
                              ("pd.read_csv('history.csv').head()", [shown])))
    log = read_training_log(path)
    assert log.epochs == 6 and log.source.endswith("cell 2 (In [1])")
    assert log.notes == ("showing a frame's first or last rows (.head(), .tail()), left out: cell 3 (In [2])",)
    path.write_text(_notebook(("pd.read_csv('history.csv').head()", [shown])))
    assert read_training_log(path).epochs == 5


def test_a_callbacks_own_line_of_metrics_after_keras_epoch_line(tmp_path):
    """The forty-seventh corpus' 47b005: a Coursera course's TqdmProgressCallback (verbose=0) prints Keras' "Epoch
    k/N", a bar of asterisks, then "loss: ..; acc: ..; val_loss: ..; val_acc: ..", between a learning rate
    scheduler's line and a checkpoint's: every epoch is read."""
    lines = []
    for epoch, (loss, val) in enumerate([(1.9, 1.6), (1.4, 1.3), (1.1, 1.2), (0.9, 1.15)], start=1):
        lines += [f"Learning rate: {0.005 * 0.9 ** epoch:.6f}", f"Epoch {epoch}/4", "*" * 50,
                  f"loss: {loss:.4f}; acc: 0.{epoch}000; val_loss: {val:.4f}; val_acc: 0.{epoch}500",
                  f"Model saved in cifar.{epoch - 1:03d}.hdf5"]
    path = tmp_path / "week3.ipynb"
    path.write_text(_notebook(("model.fit(..., verbose=0, callbacks=[TqdmProgressCallback()])",
                               [_stream("\n".join(lines) + "\n")])))
    log = read_training_log(path)
    assert log.first_epoch == 1 and log.source.startswith("a log line per epoch in a Jupyter notebook's cell 2")
    assert log.history == {"loss": [1.9, 1.4, 1.1, 0.9], "acc": [0.1, 0.2, 0.3, 0.4], "val_loss": [1.6, 1.3, 1.2, 1.15],
                           "val_acc": [0.15, 0.25, 0.35, 0.45]}
    path.write_text(_notebook(("model.fit(...)", [_stream("Epoch 1/4\n" + "*" * 50 + "\nModel saved\n")])))
    with pytest.raises(ValueError, match="without a training log"):
        read_training_log(path)


def test_a_table_of_several_fits_histories_is_not_a_run_of_its_own(tmp_path):
    """Fits continued in three cells, then the tail of a DataFrame joining their histories, whose rows span the last
    two fits (as in the twenty-seventh corpus' 27d011): the last fit is diagnosed, not the table. A short fit whose
    losses sit among earlier ones, but not with their val losses, is a run of its own."""
    def fit(losses):
        return "".join(KERAS2_EPOCH.format(e=e, loss=loss, val=loss + 0.1).replace(f"{e}/3", f"{e}/{len(losses)}")
                       for e, loss in enumerate(losses, start=1))
    table = "      loss  val_loss\n5  0.400000  0.500000\n6  0.350000  0.450000\n7  0.300000  0.400000\n" \
            "8  0.280000  0.380000"
    path = tmp_path / "continued.ipynb"
    path.write_text(_notebook(("model.fit(epochs=4)", [_stream(fit([0.9, 0.7, 0.6, 0.5]))]),
                              ("model.fit(epochs=2)", [_stream(fit([0.45, 0.4]))]),
                              ("model.fit(epochs=3)", [_stream(fit([0.35, 0.3, 0.28]))]),
                              ("pd.concat(histories).tail(4)", [
                                  {"output_type": "execute_result", "execution_count": 4, "metadata": {},
                                   "data": {"text/plain": table}}])))
    log = read_training_log(path)
    assert log.history["loss"] == [0.35, 0.3, 0.28] and log.source.endswith("cell 4 (In [3])")
    assert "showing part of earlier cells' histories (a head or tail), left out: cell 5 (In [4])" in log.notes
    again = "".join(KERAS2_EPOCH.format(e=e, loss=loss, val=val)  # the first fit's losses, not its val losses
                    for e, (loss, val) in enumerate([(0.7, 0.95), (0.6, 0.9), (0.5, 0.85)], start=1))
    path.write_text(_notebook(("model.fit(epochs=4)", [_stream(fit([0.9, 0.7, 0.6, 0.5]))]),
                              ("model.fit(epochs=3)", [_stream(again)])))
    assert read_training_log(path).source.endswith("cell 3 (In [2])")


def test_a_fit_continued_near_a_plateau_is_a_training_not_a_view(tmp_path):
    """The fifty-eighth corpus' 58b004: one model fitted again in a later cell and stopped by hand, its losses and val
    losses near the first fit's plateau, each matching one of its epochs in order: what Keras printed as it ran is a
    training, and the last one is diagnosed."""
    def fit(rows):
        return "".join(KERAS2_EPOCH.format(e=e, loss=loss, val=val).replace(f"{e}/3", f"{e}/20")
                       for e, (loss, val) in enumerate(rows, start=1))
    plateau = [(0.41, 0.5), (0.4, 0.51)] * 2
    stopped = {"output_type": "error", "ename": "KeyboardInterrupt", "evalue": "", "traceback": []}
    path = tmp_path / "continued.ipynb"
    path.write_text(_notebook(("model.fit(epochs=20)", [_stream(fit([(0.9, 1.0), (0.5, 0.6), *plateau]))]),
                              ("model.fit(epochs=20)", [_stream(fit(plateau[:3])), stopped])))
    log = read_training_log(path)
    assert log.history["loss"] == [0.41, 0.4, 0.41] and log.source.endswith("cell 3 (In [2])")
    assert not any("head or tail" in note for note in log.notes)


@pytest.mark.parametrize("typed, slipped", [
    # the fifty-eighth corpus' 58c002: a cell's output cut by hand leaves '",' before ']'
    ('"(32, ]\\n"', '"(32, ]\\n",'),
    # the ninety-fifth's 95a012: a markdown cell's two lines typed with no comma between them (Python's literal
    # syntax reads them as one string, and the file as a dict with no history in it)
    ('"# Training"', '"*Colab is used*"\n    "*Change the runtime to GPU*"'),
])
def test_a_notebook_edited_by_hand_is_read_as_jupyter_would_show_it(tmp_path, typed, slipped):
    """A slip JSON refuses, in a notebook whose outputs are whole: read as the notebook shows them."""
    epochs = "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e) for e in (1, 2, 3))
    text = _notebook(("print(x.shape)", [_stream("(32, ]\n")]), ("model.fit(epochs=3)", [_stream(epochs)]))
    edited = text.replace(typed, slipped, 1)
    assert edited != text
    path = tmp_path / "colab.ipynb"
    path.write_text(edited)
    log = read_training_log(path)
    assert log.epochs == 3 and log.source.endswith("cell 3 (In [2])")
    assert logs._notebook_outputs(edited)[0][2] == "(32, ]\n"  # a comma inside a string stays


def test_a_bar_left_short_of_its_total_with_validation_metrics_ends_its_epoch(tmp_path):
    """The eighty-fifth corpus' 85c009 (TF 2.0, fit with steps_per_epoch on arrays): each epoch's last line stops at
    59392/60000 with "ETA: 0s" and the val_ metrics, and no line end before the next "Epoch". Validation comes at an
    epoch's end only, so the line is the epoch's; a line with an ETA and no val_ metrics is still no epoch's end."""
    bar = "59392/60000 [============================>.] - ETA: 0s - loss: {loss} - accuracy: 0.8 - val_loss: {val} - "
    text = "Train on 60000 samples, validate on 10000 samples\n" + "".join(
        f"Epoch {e}/3\n1024/60000 [>.............................] - ETA: 40s - loss: 2.3 - accuracy: 0.1\r"
        + bar.format(loss=1 / e, val=1.2 / e) + "val_accuracy: 0.85" for e in (1, 2))
    text += "Epoch 3/3\n30720/60000 [==============>...............] - ETA: 5s - loss: 0.3 - accuracy: 0.9\n"
    path = tmp_path / "log.txt"
    path.write_text(text)
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, 0.5] and log.history["val_loss"] == [1.2, 0.6]
    assert "ETA" not in log.history and log.notes == ("epoch 3 did not finish (no metrics for the whole epoch): left out",)


def test_a_notebook_after_comment_lines_is_read(tmp_path):
    """The eighty-third corpus' 83g002: the TensorFlow tutorial's licence cell pasted as "#" lines above the JSON;
    the notebook is read, and a CSV with comment lines before its header is still no notebook."""
    epochs = "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e) for e in (1, 2, 3))
    path = tmp_path / "FashionMNIST.ipynb"
    path.write_text("#@title MIT License\n#\n# Copyright (c) 2017 F. C.\n\n"
                    + _notebook(("model.fit(epochs=3)", [_stream(epochs)])))
    log = read_training_log(path)
    assert log.epochs == 3 and log.source.endswith("cell 2 (In [1])")
    assert logs._notebook_outputs("# a comment\nepoch,loss\n0,1.0\n") is None


def test_console_output_with_windows_line_ends_and_a_short_last_run_cut_before_validation(tmp_path):
    """CRLF line ends (a log saved on Windows); a fine-tuning run whose third epoch Ctrl-C cut before validation
    keeps 2 whole epochs, too few for a shape: the first run is read, and the note says so."""
    first = "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e) for e in (1, 2, 3))
    second = "".join(KERAS2_EPOCH.format(e=e, loss=0.2 / e, val=0.3 / e) for e in (1, 2))
    cut = "Epoch 3/3\n4/4 [==============================] - 1s 250ms/step - loss: 0.0500 - acc: 0.9800\n"
    path = tmp_path / "log.txt"
    path.write_bytes((first + second + cut).replace("\n", "\r\n").encode())
    log = read_training_log(path)
    assert log.epochs == 3 and np.allclose(log.history["val_loss"], [1.1, 0.55, 1.1 / 3])
    assert log.notes == ("2 runs in the file (fit called again): run 1, 3 epochs, the last long enough for a curve's "
                         "shape, is diagnosed (left out, too short: run 2, 2 epochs)",)


@pytest.mark.parametrize("cells", [{"a": 1}, [1], [{"cell_type": "code", "outputs": None}],
                                   [{"cell_type": "code", "outputs": [{"output_type": "stream", "text": 5}]}]])
def test_a_broken_notebook_is_refused_with_a_value_error(tmp_path, cells):
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "cells": cells}))
    with pytest.raises(ValueError):
        read_training_log(path)


def test_updates_of_an_epoch_of_unknown_length_run_into_one_line(tmp_path):
    """The first epoch of a tf.data pipeline counts its steps ("10/Unknown"), no ETA: the epoch's metrics follow the
    last step time, as Keras 2 and 3 print them."""
    first = "".join(f"{10 * i:7d}/Unknown - {i}s 50ms/step - loss: {2 - i / 10:.4f} - accuracy: {0.1 + i / 20:.4f}"
                    for i in range(1, 10))
    path = tmp_path / "out.txt"
    path.write_text("Epoch 1/3\n" + first + "     100/Unknown - 10s 50ms/step - loss: 0.5000 - accuracy: 0.7000\n"
                    + "".join(f"Epoch {e}/3\n100/100 [====] - 5s 50ms/step - loss: {0.5 / e:.4f} - accuracy: 0.8000\n"
                              for e in (2, 3)))
    assert read_training_log(path).history == {"loss": [0.5, 0.25, 0.1667], "accuracy": [0.7, 0.8, 0.8]}


def test_a_notebook_without_a_training_log_says_what_it_found(tmp_path):
    path = tmp_path / "eda.ipynb"
    path.write_text(_notebook(("df.head()", [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                                              "data": {"text/plain": ["   a  b\n0  1  2"]}}]),
                              ("model.fit(x, y)", [{"output_type": "error", "ename": "ValueError", "evalue": "shapes",
                                                    "traceback": ["Epoch 1/3", "loss: 0.5"]}])))
    with pytest.raises(ValueError, match=r"eda\.ipynb: a Jupyter notebook without a training log in the saved outputs "
                                         r"of its 1 code cell with output"):
        read_training_log(path)


def test_console_output_copied_from_inside_the_first_epoch(tmp_path):
    """The sixteenth corpus' 16e002: the output starts with epoch 1's last bar, its "Epoch 1/3" line not copied; a
    bar before the first "Epoch" line with other metrics (an evaluate) is no epoch."""
    epochs = "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e) for e in (1, 2, 3))
    path = tmp_path / "log.txt"
    path.write_text(epochs[epochs.index("\n") + 1:])
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, 0.5, 1 / 3] and log.first_epoch == 1
    assert log.notes == ('the output starts inside epoch 1, without its "Epoch 1/N" line: its metrics are read',)
    path.write_text("4/4 [====] - 1s 250ms/step - loss: 0.9 - acc: 0.5\n" + epochs[epochs.index("Epoch 2"):])
    log = read_training_log(path)
    assert log.history["loss"] == [0.5, 1 / 3] and log.first_epoch == 2 and log.notes == ()
    without_val = KERAS2_EPOCH.replace(" - val_loss: {val} - val_acc: 0.6", "")
    resumed = "".join(without_val.format(e=e, loss=1 / e) for e in (2, 3))  # fit(initial_epoch=1) after evaluate()
    evaluate = "2/2 [==============================] - 0s 5ms/step - loss: 0.9000 - acc: 0.5000 - lr: 1.0000e-03\n"
    path.write_text(evaluate + resumed)
    log = read_training_log(path)
    assert log.first_epoch == 2 and len(log.history["loss"]) == 2 and log.notes == ()  # its bar is no epoch's


def test_console_output_copied_from_inside_the_first_epoch_without_line_ends(tmp_path):
    """The eighty-seventh corpus' 87g002: as 16e002, but the output starts with backspaces and a carriage return and
    epoch 1's updates have no line end between them; the bar's total is still found, and epoch 1 read."""
    epochs = "".join(KERAS2_EPOCH.format(e=e, loss=1 / e, val=1.1 / e) for e in (1, 2, 3))
    path = tmp_path / "log.txt"
    path.write_text("\x08\x08\x08\r" + epochs[epochs.index("\n") + 1:].replace("\r", "\x08\x08\r", 1))
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, 0.5, 1 / 3] and log.first_epoch == 1


def test_an_epoch_whose_epoch_line_was_lost_is_read_from_its_last_bar(tmp_path):
    """The eighty-seventh corpus' 87f001: "Epoch 7/10" missing from the saved output, epochs 6 and 7's last bars
    both after "Epoch 6/10". Where the count skips as many epochs as there are whole epochs' lines, each line is its
    epoch's; a line printed twice before the next epoch's line (a doubled stream) is still one epoch."""
    keras3 = "Epoch {e}/5\n8/8 ━━━━━━━━━━━━━━━━━━━━ 1s 20ms/step - loss: {loss} - val_loss: {val}\n"
    text = "".join(keras3.format(e=e, loss=1 / e, val=1.1 / e) for e in range(1, 6))
    path = tmp_path / "log.txt"
    path.write_text(text.replace("Epoch 3/5\n", ""))
    log = read_training_log(path)
    assert log.history["loss"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert log.notes == ('epoch 3 without an "Epoch k/N" line: read from the whole epochs\' lines the count skipped',)
    doubled = text.replace("val_loss: 0.55\n", "val_loss: 0.55\n" + keras3.format(e=2, loss=0.5, val=0.55)[10:])
    path.write_text(doubled)
    assert read_training_log(path).history["loss"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    evaluate = "2/2 ━━━━━━━━━━━━━━━━━━━━ 0s 5ms/step - loss: 9.9 - val_loss: 9.9\n"  # a bar of another length
    resumed = "".join(keras3.format(e=e, loss=1 / e, val=1.1 / e) for e in (1, 2)) + evaluate + "".join(
        keras3.format(e=e, loss=1 / e, val=1.1 / e) for e in (4, 5))  # fit(initial_epoch=3) after evaluate()
    path.write_text(resumed)
    assert read_training_log(path).history["loss"] == [1.0, 0.5, 0.25, 0.2]


def test_a_separator_left_at_a_lines_end_keeps_its_metric(tmp_path):
    """The eighty-eighth corpus' 88g004 (TF 1.x, "us/sample"): one epoch's line ends "acc: 0.9712 -", the rest of a
    longer line a carriage return overwrote; its accuracy is read, so that the column is whole."""
    epoch = "Epoch {e}/3\n60000/60000 [==============================] - 5s 85us/sample - loss: {loss} - acc: 0.9{e}"
    path = tmp_path / "log.txt"
    path.write_text("".join(epoch.format(e=e, loss=1 / e) + (" -\n" if e == 2 else "\n") for e in (1, 2, 3)))
    assert read_training_log(path).history["acc"] == [0.91, 0.92, 0.93]


def test_console_lines_that_are_not_an_epochs_metrics(tmp_path):
    """Metric names with / or -, -inf, a dict printed first, the user's own print with "loss:" in it, and val
    metrics printed every other epoch (validation_freq=2): each read for what it is."""
    epoch = ("Epoch {e}/2\n4/4 - 1s - 250ms/step - head/accuracy: 0.{e}1 - f1-score: 0.5 - loss: {loss} - "
             "accuracy: 0.{e}{val}\n")
    text = ("{'lr': 0.01, 'batch': 32}\n" + epoch.format(e=1, loss="-inf", val=" - val_loss: 0.9")
            + epoch.format(e=2, loss="0.5", val="") + "my test loss: 0.95\n")
    path = tmp_path / "out.txt"
    path.write_text(text)
    log = read_training_log(path)
    assert log.history["head/accuracy"] == [0.11, 0.21] and log.history["f1-score"] == [0.5, 0.5]
    assert log.history["loss"] == [-math.inf, 0.5] and log.history["accuracy"] == [0.1, 0.2]
    assert log.notes == ("printed in some epochs only, left out: val_loss",)


def test_prefixed_keys_of_a_models_outputs_are_no_runs(tmp_path):
    """out1_loss, val_out1_loss, ...: a model with two outputs and no total loss is refused, not read as runs; of
    overlapping prefixes (a_, a_b_) each key belongs to the longest."""
    path = tmp_path / "history.json"
    outputs = {"out1_loss": [1.0, 0.8], "out2_loss": [2.0, 1.5], "val_out1_loss": [1.1, 0.9], "val_out2_loss": [2.2, 1.8]}
    path.write_text(json.dumps(outputs))
    with pytest.raises(ValueError, match="no 'loss' list in the JSON"):
        read_training_log(path)
    path.write_text(json.dumps({"a_loss": [1.0, 0.8, 0.6], "a_b_loss": [3.0, 2.0, 1.0], "a_b_val_loss": [3.1, 2.1, 1.5]}))
    log = read_training_log(path)
    assert log.history == {"loss": [3.0, 2.0, 1.0], "val_loss": [3.1, 2.1, 1.5]} and "'a_b', is diagnosed" in log.notes[0]


@pytest.mark.parametrize("text, message", [
    ("epoch,accuracy,val_loss\n0,0.5,1.2\n", r"log\.csv: no 'loss' column \(columns: epoch, accuracy, val_loss; "
                                             r"separator ','\)"),
    ("", r"log\.csv: empty file"),
    ("epoch,loss\n0,1.0\n1,abc\n", r"log\.csv: column 'loss' holds a non-number"),
    ("epoch,loss\n", r"log\.csv: a header row \(epoch, loss; separator ','\) and no epochs"),
    ("{\"acc\": [0.5]}", r"log\.csv: no 'loss' list in the JSON \(keys: acc\)"),
    ("Epoch 1/3\nTraceback (most recent call last):\n", r"log\.csv: Keras' \"Epoch k/N\" lines without a line of "
                                                        r"metrics"),
    ("[2025-12-19 00:09:32] start\n0,0.28,1.27\n", r"log\.csv: no 'loss' column \(columns: \[2025-12-19"),
    ("{'loss': [0.5", r"log\.csv: not valid JSON \(.*\), nor a Python dict literal"),
    ('epoch,"loss\n' + "0.5,\n" * 200_000, r"log\.csv: not a CSV log \(field larger than field limit"),
    ("epoch,accuracy," + "x" * 5000 + "\n0,0.5,1\n", r"log\.csv: no 'loss' column \(columns: epoch, accuracy, x+\.\.\. "
                                                     r"\(5017 characters\); separator ','\)"),
])
def test_what_cannot_be_read_says_what_it_found(tmp_path, text, message):
    path = tmp_path / "log.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_training_log(path)


def test_an_empty_tensorboard_folder_says_so(tmp_path):
    with pytest.raises(ValueError, match="no TensorBoard event files"):
        read_training_log(tmp_path)


# --- the number of classes: given, inferred from the log, or unknown ---------------------------------------------

def test_a_loss_flat_at_ln_c_tells_the_number_of_classes():
    stuck = {"loss": [math.log(10) + 0.001 * (-1) ** e for e in range(8)], "accuracy": [0.1] * 8}
    result = diagnose_log(stuck)
    assert result.num_classes == 10 and "ln 10" in result.classes_from
    assert result.diagnosis.label.value == "stuck_at_chance"


def test_without_classes_the_checks_that_need_them_are_skipped_and_named():
    learning = {"loss": [1.5 * 0.8 ** e for e in range(12)], "val_loss": [1.4 * 0.82 ** e for e in range(12)],
                "accuracy": [min(0.99, 0.5 + 0.05 * e) for e in range(12)]}
    result = diagnose_log(TrainingLog(learning))
    assert result.num_classes is None and "classes unknown" in result.classes_from
    assert [s.split(":")[0] for s in result.skipped] == ["stuck_at_chance", "bad_initial_loss"]
    assert result.diagnosis.label.value in ("healthy", "too_slow")  # a readable log always gets a diagnosis


def test_a_multi_output_model_without_an_overall_accuracy_reads_the_mean_of_its_outputs(tmp_path):
    """n003: three heads (audio_only_pred, fused_pred, visual_only_pred), each logged with its own accuracy."""
    path = tmp_path / "training_log.csv"
    rows = ["epoch,a_pred_accuracy,a_pred_loss,b_pred_binary_accuracy,b_pred_loss,loss,val_a_pred_accuracy,"
            "val_a_pred_loss,val_b_pred_binary_accuracy,val_b_pred_loss,val_loss"]
    rows += [f"{e},{0.60 + 0.01 * e},0.3,{0.64 + 0.01 * e},0.3,{0.76 - 0.02 * e},{0.70 + 0.01 * e},0.2,"
             f"{0.74 + 0.01 * e},0.2,{0.46 - 0.01 * e}" for e in range(12)]
    path.write_text("\n".join(rows) + "\n")
    result = diagnose_log(path, 2)
    assert np.allclose(result.log.history["accuracy"][:2], [0.62, 0.63])
    assert np.allclose(result.log.history["val_accuracy"][:2], [0.72, 0.73])
    assert any("mean of 2 outputs' (a_pred, b_pred)" in note for note in result.log.notes), result.log.notes
    assert result.diagnosis.label.value == "val_above_train", result.diagnosis
    single = diagnose_log({"loss": [1.0, 0.5], "head_accuracy": [0.5, 0.7], "val_head_accuracy": [0.5, 0.6]})
    assert single.log.history["accuracy"] == [0.5, 0.7] and "the one output's (head)" in single.log.notes[-1]


def test_without_classes_the_evidence_never_speaks_of_a_chance_level_it_does_not_know():
    history = {"loss": [1.2, 0.9, 0.8, 0.75, 0.7], "val_loss": [1.1, 0.95, 0.9, 0.85, 0.83],
               "accuracy": [0.5, 0.6, 0.65, 0.68, 0.7], "val_accuracy": [0.5, 0.58, 0.62, 0.64, 0.66]}
    evidence = diagnose_log(history).diagnosis.evidence
    assert "classes unknown (chance read as 0)" in evidence and "chance-to-perfect" not in evidence, evidence
    assert "chance-to-perfect" in diagnose_log(history, 3).diagnosis.evidence
