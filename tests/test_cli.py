"""The command line's own surface: version, help, choices, TensorFlow's noise and the pre-flight wording."""
from __future__ import annotations

import argparse
import io

import pytest

from gridsearch import __version__
from gridsearch.cli import ConsoleReporter, build_parser, main
from gridsearch.search.preflight import ERROR, OK, Finding, PreflightReport


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"gridsearch {__version__}"


def test_every_option_of_every_command_has_a_help_text():
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [f"{name} {action.option_strings or action.dest}"
               for name, command in [("", parser), *commands.choices.items()] for action in command._actions
               if not action.help and not isinstance(action, argparse._SubParsersAction)]
    assert missing == []
    assert {c.dest for c in commands._choices_actions} == set(commands.choices)  # each command has its line too
    assert all(c.help for c in commands._choices_actions)


def test_backend_lists_its_choices(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "space.py", "--backend", "torch"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "invalid choice: 'torch' (choose from 'keras_tuner', 'sklearn')" in err
    run_help = _help_of("run")
    assert "override the space's backend: keras_tuner, sklearn" in " ".join(run_help.split())


def _help_of(command: str) -> str:
    out = io.StringIO()
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands.choices[command].print_help(out)
    return out.getvalue()


def test_verbose_is_accepted_before_and_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["--verbose", "leaderboard", "x"]).verbose
    assert parser.parse_args(["leaderboard", "x", "--verbose"]).verbose
    assert not parser.parse_args(["leaderboard", "x"]).verbose


def test_preflight_calls_a_finding_that_does_not_block_a_warning():
    stuck = Finding("can_overfit", ERROR, "training accuracy 0.10, chance is 0.10 (...)")
    report = PreflightReport([stuck, Finding("rare_class", OK, "")], 1.0).for_plan({"learning_rate"})
    out = io.StringIO()
    ConsoleReporter(out).preflight_finished(report)
    text = out.getvalue()
    assert "0 error(s), 1 warning(s)" in text and "error can_overfit" not in text
    assert "warning can_overfit: training accuracy 0.10" in text and "does not stop the run" in text
