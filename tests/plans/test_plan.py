"""Plan expansion: staged is the sum of the stages, full grid their product."""
from __future__ import annotations

from gridsearch import SearchSpace, Stage
from gridsearch.plans.stages import base_config, make_plan, tuned_names


def _space(**kwargs) -> SearchSpace:
    return SearchSpace(name="x", stages=[
        Stage("learning_rate", [1e-1, 1e-2, 1e-3, 1e-4]),
        Stage("batch_norm", [False, True]),
        Stage({"l2": [0.0, 1e-4, 1e-3], "dropout": [0.0, 0.3]}),
        Stage("noise", [0.0, 0.1, 0.3]),
    ], **kwargs)


def test_staged_plan_is_the_sum_of_stage_sizes():
    plan = make_plan(_space())
    assert [s.size for s in plan] == [4, 2, 6, 3]
    assert [s.name for s in plan] == ["learning_rate", "batch_norm", "l2+dropout", "noise"]


def test_joint_stage_is_the_product_in_written_order():
    joint = make_plan(_space())[2].candidates()
    assert joint[:3] == [{"l2": 0.0, "dropout": 0.0}, {"l2": 0.0, "dropout": 0.3}, {"l2": 1e-4, "dropout": 0.0}]


def test_full_grid_is_the_product():
    plan = make_plan(_space(), full_grid=True)
    assert len(plan) == 1 and plan[0].size == 4 * 2 * 6 * 3
    assert make_plan(_space(plan="full_grid"))[0].size == 144


def test_base_config_layers_space_defaults_over_registry():
    config = base_config(SearchSpace(name="x", defaults={"learning_rate": 0.5}, epochs=7, stages=[]))
    assert config["learning_rate"] == 0.5 and config["epochs"] == 7 and config["optimizer"] == "adam"


def test_leaderboard_columns_follow_stages_then_defaults():
    space = _space(defaults={"filters": 16})
    assert tuned_names(space) == ["learning_rate", "batch_norm", "l2", "dropout", "noise", "filters",
                                  "epochs", "batch_size"]
