"""Shards in worker processes: same outputs, same order as one process, bounded in-flight work."""

import os

import pandas as pd
import pytest

from agentark_core.extract import ExtractConfig, extract_stream, map_shards


def _pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def test_map_shards_keeps_order_runs_in_workers_and_bounds_in_flight():
    pulled = []

    def items():
        for i in range(12):
            pulled.append(i)
            yield i

    results = []
    for k, (pid, square) in enumerate(map_shards(_pid_and_square, items(), workers=2, max_in_flight=3)):
        assert len(pulled) <= k + 3  # never more than 3 shards submitted ahead of the consumer
        results.append((pid, square))
    assert [s for _, s in results] == [i * i for i in range(12)]
    assert os.getpid() not in {pid for pid, _ in results}


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"shard {x} is broken")
    return x


def test_a_worker_error_reaches_the_caller():
    results = map_shards(_fail_on_three, range(8), workers=2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]  # the shards before the broken one, in order
    with pytest.raises(ValueError, match="shard 3 is broken"):
        next(results)


def test_one_worker_runs_here_and_bad_counts_fail():
    assert [pid for pid, _ in map_shards(_pid_and_square, [1, 2])] == [os.getpid()] * 2
    with pytest.raises(ValueError, match="workers"):
        list(map_shards(_pid_and_square, [1], workers=0))
    with pytest.raises(ValueError, match="max_in_flight"):
        list(map_shards(_pid_and_square, [1], workers=2, max_in_flight=0))


def _split(log, qids):
    return tuple(df.loc[df["question_id"].isin(qids)] for df in log)


def test_stream_in_workers_equals_one_process(hand_log, hand_questions):
    groups = [
        {hand_questions[a].question_id, hand_questions[b].question_id}
        for a, b in (("fix", "drop"), ("early", "tie"))
    ]
    shards = [_split(hand_log, g) for g in groups]
    config = ExtractConfig(prm_splitter="line")
    serial = list(extract_stream(shards, config))
    parallel = list(extract_stream(shards, config, workers=2))
    for one, many in zip(serial, parallel, strict=True):
        assert one.stats == many.stats and one.selection == many.selection
        for name in ("trajectories", "rsft", "da", "prm"):
            pd.testing.assert_frame_equal(getattr(one, name), getattr(many, name))


def test_a_judge_stays_in_one_process(hand_log):
    with pytest.raises(ValueError, match="workers=1"):
        list(extract_stream([hand_log], judge=object(), workers=2))
