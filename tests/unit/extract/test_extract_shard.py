"""The shard driver: every table validates, shards extract independently and their counts add up."""

import pandas as pd
import pytest

from agentark_core.extract import ExtractConfig, extract_shard
from schemas import validate


def test_extract_shard_outputs_validate(hand_log):
    out = extract_shard(*hand_log, ExtractConfig(prm_splitter="line"))
    validate(out.trajectories, "trajectories")
    for table in (out.rsft, out.da):
        validate(table, "sft_examples")
    validate(out.prm, "prm_examples")
    assert out.stats.as_dict() == {
        "questions": 4,
        "kept": 3,
        "dropped": 1,
        "trajectories": 12,
        "corrective": 2,
    }
    assert out.selection.questions == 3


def _split(log, qids):
    questions, turns, labels = log
    return tuple(df.loc[df["question_id"].isin(qids)] for df in (questions, turns, labels))


def test_shard_by_shard_equals_one_shard(hand_log, hand_questions):
    first = {hand_questions["fix"].question_id, hand_questions["drop"].question_id}
    second = {hand_questions["early"].question_id, hand_questions["tie"].question_id}
    whole = extract_shard(*hand_log)
    parts = [extract_shard(*_split(hand_log, first)), extract_shard(*_split(hand_log, second))]
    assert parts[0].stats + parts[1].stats == whole.stats
    assert parts[0].selection + parts[1].selection == whole.selection
    for name in ("trajectories", "rsft", "da", "prm"):
        joined = pd.concat([getattr(p, name) for p in parts]).sort_values(
            list(getattr(whole, name).columns[:2])
        )
        expected = getattr(whole, name).sort_values(list(joined.columns[:2]))
        assert joined.reset_index(drop=True).astype(str).equals(expected.reset_index(drop=True).astype(str))


def test_config_checks():
    with pytest.raises(KeyError, match="valid: line, paragraph, step"):
        ExtractConfig(prm_splitter="sentence")
    with pytest.raises(ValueError, match="min_distance"):
        ExtractConfig(min_distance=1.0)
