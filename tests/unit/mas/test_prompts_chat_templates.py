"""The debate's prompts as real chat models see them (issue 17 item 6): the round-1 and round-2 chats that
``run_debate`` builds, rendered through the chat templates of real model families, keep their structure,
and a round-2 reply that quotes its peers still grades as the agent's own answer.

The templates are public facts, copied from the models' ``tokenizer_config.json`` files on the Hugging Face
hub (the ``chat_template`` field); they are rendered by transformers' own ``apply_chat_template`` on a
tokenizer built offline (``agentark_core.toy.tiny.train_tokenizer``), as a backend renders them.
"""

from __future__ import annotations

import pytest

from agentark_core.answers import grade
from agentark_core.data.question import Question
from agentark_core.llm.scripted import ScriptedGenerator
from agentark_core.mas import prompts
from agentark_core.mas.debate import DebateConfig, run_debate

# Qwen/Qwen2.5-7B-Instruct tokenizer_config.json "chat_template" (ChatML), its tools branches left out
# (the debate sends no tools): a default system turn when the chat has none.
CHATML_QWEN25 = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) "
    "or (message.role == 'assistant') %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json "chat_template", verbatim.
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
# google/gemma-2-2b-it tokenizer_config.json "chat_template", verbatim: no system role, strict
# user/model alternation (a chat that breaks either raises).
GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)
# template -> (bos token, turn opener per role, the generation prompt)
TEMPLATES = {
    "chatml-qwen2.5": (CHATML_QWEN25, "", {"user": "<|im_start|>user\n", "assistant": "<|im_start|>assistant\n"},
                       "<|im_start|>assistant\n"),
    "llama-3": (LLAMA3, "<|begin_of_text|>",
                {"user": "<|start_header_id|>user<|end_header_id|>\n\n",
                 "assistant": "<|start_header_id|>assistant<|end_header_id|>\n\n"},
                "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "gemma-2": (GEMMA2, "<bos>", {"user": "<start_of_turn>user\n", "assistant": "<start_of_turn>model\n"},
                "<start_of_turn>model\n"),
}

EGGS = Question("gsm8k", "test", "math",
                "Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with four. "
                "She sells the rest at $2 per egg. How much does she make every day?", "18", question_id="eggs")
# Round-1 replies (agent 0 right, agent 1 wrong), then round-2 replies that quote the other agent.
REPLIES = {
    (1, 0): "She has 16 - 3 - 4 = 9 eggs left.\n9 * $2 = $18.\nFinal Answer: 18",
    (1, 1): "16 - 3 - 4 = 10 eggs, and 10 * 2 = 20.\nFinal Answer: 20",
    (2, 0): "16 - 3 - 4 = 9, so she sells 9 eggs for $18.\nFinal Answer: 18\n\n"
            "Agent 1's final answer of 20 is wrong: 16 - 3 - 4 is 9, not 10.",
    (2, 1): "I made a subtraction error. Agent 0 is right that 16 - 3 - 4 = 9, and 9 * 2 = 18, "
            "not my earlier 20.\nFinal Answer: **18**",
}


@pytest.fixture(scope="module")
def chats() -> dict[tuple[int, int], tuple[dict, ...]]:
    """``(round, agent_id) -> messages`` of every agent request of a real 2-agent, 2-round debate."""
    generator = ScriptedGenerator([REPLIES[k] for k in sorted(REPLIES)] + ["Final Answer: 18"])
    turns = run_debate([EGGS], generator, DebateConfig(n_agents=2, rounds=2, consensus_stop=False))
    agents = {(t.round, t.agent_id): t.response for t in turns if t.role == "agent"}
    assert agents == REPLIES  # replies handed out in (round, agent) order
    return {(k + 1, agent): batch[agent].messages for k, batch in enumerate(generator.calls[:2])
            for agent in range(2)}


def _renderer(name: str):
    from agentark_core.toy.tiny import train_tokenizer

    template, bos, _, _ = TEMPLATES[name]
    tokenizer = train_tokenizer()
    tokenizer.chat_template = template
    if bos:
        tokenizer.add_special_tokens({"bos_token": bos})
    return lambda messages: tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)


def _turn_order(text: str, openers: dict[str, str]) -> list[str]:
    """The roles of the rendered turns, in order, read from their opening markers."""
    found = sorted((i, role) for role, marker in openers.items()
                   for i in range(len(text)) if text.startswith(marker, i))
    return [role for _, role in found]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_round1_and_round2_prompts_keep_their_structure_in_real_chat_templates(chats, name):
    render = _renderer(name)
    _, bos, openers, generation = TEMPLATES[name]
    for (round_, agent), messages in chats.items():
        text = render(messages)
        assert text.startswith(bos) and text.endswith(generation), (name, round_)
        roles = ["user"] if round_ == 1 else ["user", "assistant", "user"]
        # the generation prompt opens one more assistant turn after the chat's own turns
        assert _turn_order(text, openers) == [*roles, "assistant"], (name, round_, text)
        assert "system" not in [m["role"] for m in messages]  # Gemma 2 refuses a system turn
        # the format instruction once in every user turn, and once in the turn the model answers
        assert text.count(prompts.ANSWER_FORMAT) == roles.count("user")
        last_user = text[text.rindex(openers["user"]):]
        assert last_user.count(prompts.ANSWER_FORMAT) == 1 and last_user.count("Final Answer: X") == 1
        assert EGGS.query in text
        if round_ == 2:
            peer = 1 - agent
            assert f"Agent {peer}: {REPLIES[(1, peer)]}" in last_user  # the peer's answer quoted whole
            assert f"Agent {agent}:" not in last_user  # never the agent's own as a peer's
            assert REPLIES[(1, agent)] in text[:text.rindex(openers["user"])]  # its own, as its assistant turn
            assert last_user.index("These are the solutions") < last_user.index(prompts.ANSWER_FORMAT)


def test_mcq_round1_prompt_lists_the_options_and_asks_for_a_letter():
    question = Question("medmcqa", "test", "mcq", "Which vitamin deficiency causes scurvy?", "C",
                        choices=("Vitamin A", "Vitamin B12", "Vitamin C", "Vitamin D"))
    text = _renderer("llama-3")([{"role": "user", "content": prompts.first_prompt(question)}])
    assert "\nA) Vitamin A\nB) Vitamin B12\nC) Vitamin C\nD) Vitamin D\n" in text
    assert text.count(prompts.ANSWER_FORMAT_MCQ) == 1 and "letter of the correct option" in text


def test_round2_replies_quoting_peers_grade_as_the_agents_own_answer():
    for key in ((2, 0), (2, 1)):
        result = grade(REPLIES[key], EGGS.gt, "math")
        assert result.correct and result.extracted == "18", (key, result)
    assert not grade(REPLIES[(1, 1)], EGGS.gt, "math").correct
    # the same round-2 reply against the peer's wrong number: the quoted 20 is not the agent's answer
    assert not grade(REPLIES[(2, 0)], "20", "math").correct
