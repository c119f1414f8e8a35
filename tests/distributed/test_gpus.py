"""One GPU per local worker, computed from the visible GPU list (no GPU needed to test it)."""
from __future__ import annotations

from gridsearch.distributed import cluster


def test_each_local_worker_gets_its_own_gpu_from_the_visible_list():
    gpus = cluster.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,5"})
    assert gpus == ["2", "5"]
    assert [cluster.gpu_env(slot, gpus) for slot in range(3)] == [
        {"CUDA_VISIBLE_DEVICES": "2"}, {"CUDA_VISIBLE_DEVICES": "5"}, {"CUDA_VISIBLE_DEVICES": "2"}]


def test_no_gpu_leaves_the_workers_environment_alone():
    assert cluster.visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert cluster.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert cluster.gpu_env(0, []) == {}
