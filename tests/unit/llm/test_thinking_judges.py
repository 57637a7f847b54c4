"""Model calls whose replies are parsed (LLM verifier, DA diversity judge, reasoning judge) read the reply
after a reasoning model's think block, so a thinking judge is not counted invalid."""

from __future__ import annotations

import json

from agentark_core.evaluate.judge import CRITERIA, JudgeConfig, JudgeItem, judge_reasoning
from agentark_core.extract import ExtractConfig, extract_shard
from agentark_core.llm.scripted import ScriptedGenerator
from agentark_core.verify import VerifyItem, build_verifier
from tests.unit.extract.conftest import build_log, math_q


def _thinking(reply: str):
    return ScriptedGenerator(lambda request, call: f"<think>\nLet me look at this carefully.\n</think>\n\n{reply}")


def test_llm_verifier_reads_the_verdict_after_the_think_block():
    items = [VerifyItem("2+2?", "4", "math", "Final Answer: 4")]
    assert build_verifier("llm", _thinking("true")).verify(items)[0].status == "correct"
    assert build_verifier("llm", _thinking("false")).verify(items)[0].status == "incorrect"


def test_da_judge_reads_the_selection_after_the_think_block():
    q = math_q("What is 2 + 3?", "5")
    questions, turns, labels = build_log({q: {a: [f"Way {a}: 2 + 3 = 5\nFinal Answer: 5"] for a in range(3)}})
    out = extract_shard(questions, turns, labels, ExtractConfig(), judge=_thinking('{"selected": [2, 3]}'))
    assert (out.selection.judged, out.selection.fallback, out.selection.selected) == (1, 0, 2)


def test_reasoning_judge_reads_the_scores_after_the_think_block():
    scores = dict.fromkeys(CRITERIA, 4)
    items = [JudgeItem(item_id="a", question="2+2?", response="2 + 2 = 4. Final Answer: 4")]
    result = judge_reasoning(items, _thinking(json.dumps(scores)), JudgeConfig(sample_size=None, max_retries=0))
    assert result.scores == {"a": scores} and not result.invalid
