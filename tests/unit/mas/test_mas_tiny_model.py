"""Every protocol end to end on a real tiny model behind the transformers backend."""

import pytest

from agentark_core.llm.hf_backend import TransformersGenerator
from agentark_core.mas import PROTOCOLS, make_config, run_protocol
from agentark_core.toy.tiny import make_tiny_model

SMALL = {"max_tokens": 4, "seed": 0}
CONFIGS = {
    "cot": SMALL,
    "self_consistency": {**SMALL, "n_agents": 2},
    "debate": {**SMALL, "n_agents": 2, "rounds": 2, "consensus_stop": False},
    "mad": {**SMALL, "rounds": 2, "consensus_stop": False},
}
EXPECTED_ROWS = {"cot": 1, "self_consistency": 3, "debate": 5, "mad": 5}  # per question


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory):
    path = make_tiny_model(tmp_path_factory.mktemp("tiny_mas"))
    return TransformersGenerator(model=path, device="cpu", show_progress=False)


@pytest.mark.parametrize("name", PROTOCOLS.names())
def test_protocol_runs_on_tiny_model(name, tiny_generator, make_questions):
    questions = make_questions(2)
    turns = run_protocol(name, questions, tiny_generator, make_config(name, CONFIGS[name]))
    assert len(turns) == 2 * EXPECTED_ROWS[name]
    model_turns = [t for t in turns if t.messages]
    assert all(0 < t.completion_tokens <= 4 and t.prompt_tokens > 10 for t in model_turns)
    assert all(t.to_row()["protocol"] == name for t in turns)
