"""Protocol registry, configs, Turn rows and the scripted generator."""

import dataclasses
import json

import pytest

from agentark_core.llm.scripted import ScriptedGenerator
from agentark_core.llm.types import ChatRequest, Completion, SamplingParams
from agentark_core.mas import (
    PROTOCOLS,
    CotConfig,
    DebateConfig,
    MadConfig,
    SelfConsistencyConfig,
    make_config,
    run_protocol,
)
from agentark_core.mas.base import prompt_hash


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: DebateConfig(n_agents=1), "n_agents must be >= 2"),
        (lambda: DebateConfig(rounds=0), "DebateConfig.rounds must be an int >= 1"),
        (lambda: DebateConfig(n_agents=True), "DebateConfig.n_agents must be an int"),
        (lambda: DebateConfig(temperature=-0.1), "temperature"),
        (lambda: CotConfig(top_p=0.0), "top_p"),
        (lambda: MadConfig(max_tokens=0), "max_tokens"),
        (lambda: MadConfig(rounds=0), "MadConfig.rounds"),
        (lambda: SelfConsistencyConfig(n_agents=0), "SelfConsistencyConfig.n_agents"),
    ],
)
def test_config_validation_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_make_config_and_registry_errors(make_questions):
    assert make_config("debate", {"n_agents": 3}) == DebateConfig(n_agents=3)
    with pytest.raises(ValueError, match=r"unknown debate config key\(s\) \['agents'\]; valid: .*n_agents"):
        make_config("debate", {"agents": 3})
    with pytest.raises(KeyError, match="valid: cot, debate, mad, self_consistency"):
        run_protocol("debat", make_questions(1), ScriptedGenerator([]))
    with pytest.raises(TypeError, match="takes a DebateConfig, got CotConfig"):
        run_protocol("debate", make_questions(1), ScriptedGenerator([]), CotConfig())
    with pytest.raises(ValueError, match="duplicate question_id"):
        run_protocol("cot", make_questions(1) * 2, ScriptedGenerator([]))
    assert PROTOCOLS.names() == ["cot", "debate", "mad", "self_consistency"]


def test_generator_returning_wrong_count_is_an_error(make_questions):
    class Short:
        def generate(self, requests, params):
            return [Completion("Final Answer: 1", 1, 1, 0.0)]

    with pytest.raises(ValueError, match="returned 1 completions for 2 requests"):
        run_protocol("cot", make_questions(2), Short())


def test_turn_to_row_round_trips_messages(make_questions):
    gen = ScriptedGenerator(["Final Answer: 2"])
    (turn,) = run_protocol("cot", make_questions(2)[1:], gen)
    row = turn.to_row()
    assert "messages" not in row
    assert tuple(json.loads(row["messages_json"])) == turn.messages
    assert row["prompt_hash"] == prompt_hash(turn.messages) and len(row["prompt_hash"]) == 16
    assert row["answer"] == "2" and row["round"] == 1 and row["agent_id"] == 0
    assert prompt_hash(turn.messages) != prompt_hash(turn.messages + ({"role": "user", "content": "x"},))
    with pytest.raises(ValueError, match="Turn.role must be one of"):
        dataclasses.replace(turn, role="critic")
    with pytest.raises(ValueError, match="Turn.round is 1-based"):
        dataclasses.replace(turn, round=0)


def test_scripted_generator_forms_and_records():
    request = ChatRequest.user("two words")
    params = SamplingParams()
    listed = ScriptedGenerator(["a b c"])
    (c,) = listed.generate([request], params)
    assert (c.text, c.prompt_tokens, c.completion_tokens) == ("a b c", 2, 3)
    with pytest.raises(IndexError, match="ran out of its 1 scripted replies"):
        listed.generate([request], params)
    mapped = ScriptedGenerator({"words": "matched"})
    assert mapped.generate([request], params)[0].text == "matched"
    with pytest.raises(KeyError, match="no scripted reply matches"):
        mapped.generate([ChatRequest.user("other")], params)
    assert mapped.n_requests == 2 and len(mapped.calls) == 2 and mapped.params == [params, params]
