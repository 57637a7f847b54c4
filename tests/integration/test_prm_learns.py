"""A PRM that learns in the toy world (issue 19): held-out step AUROC >= 0.8 and best-of-8 >= majority-of-8.

The PRM set is built like the pipeline's (``bench/bench_prm_toy.py``: gold solutions and corrupted
ones, labelled by ``divergence_labels``), the PRM is trained from a toy student with the demo recipe's
``train.prm`` settings and evaluated on held-out questions with the student's own samples.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_prm_toy

    yield bench_prm_toy
    sys.path.remove(str(ROOT / "bench"))


@pytest.mark.xfail(reason="issue 19 deliverable 3 not reached: held-out step AUROC 0.77 with the demo's train.prm "
                          "(contrastive_bce), ranking accuracy ~0.54, best-of-8 below majority-of-8 "
                          "(bench/bench_prm_toy.py)", strict=False)
def test_the_demo_prm_learns_in_the_toy_world(bench, tmp_path_factory):
    from agentark_core.recipe import load_recipe

    prm = dict(load_recipe(ROOT / "recipes" / "demo.yaml").train.prm) | {"eval_best_of": [8]}
    rows = bench.toy_prm_rows(400, wrong=3, seed=0)
    student = bench.toy_student(tmp_path_factory.mktemp("toy"), seed=0)
    result = bench.run(student, rows, ["contrastive"], prm, n_problems=400, seed=0)["contrastive"]
    assert result["n_questions"] >= 40
    assert result["steps"]["auroc"] >= 0.8, result["steps"]
    best = result["best_of_n"]["8"]
    assert best["oracle"] > best["majority"], best  # the student's samples leave room to rerank
    assert best["prm"] >= best["majority"], best
