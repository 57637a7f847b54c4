"""Toy word-level tokenizer: one token per integer, lossless round trip of the toy texts, HF save/load."""

from __future__ import annotations

import re

import pytest

from agentark_core.answers import grade
from agentark_core.mas.prompts import TEMPLATES as PROMPT_TEMPLATES
from agentark_core.toy.problems import MAX_VALUE, ToyConfig, generate_problems
from agentark_core.toy.tokenizer import build_toy_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_toy_tokenizer()


@pytest.fixture(scope="module")
def problems():
    return generate_problems(200, "test", seed=5, config=ToyConfig(n_steps=(1, 6), distractors=(0, 2)))


def test_every_integer_up_to_max_value_is_one_token(tok):
    numbers = [str(i) for i in range(MAX_VALUE + 1)]
    ids = tok(numbers, add_special_tokens=False).input_ids
    assert all(len(one) == 1 for one in ids)
    assert tok.convert_ids_to_tokens([one[0] for one in ids]) == numbers
    assert tok.unk_token_id not in {one[0] for one in ids}
    assert tok("4000", add_special_tokens=False).input_ids == [tok.unk_token_id]
    assert tok.tokenize("Step 2: 1234 * 3 = 3702") == ["Step", "2", ":", "1234", "*", "3", "=", "3702"]


def test_gold_solutions_and_stories_round_trip_exactly(tok, problems):
    for problem in problems:
        for text in (problem.solution, problem.text):
            ids = tok(text, add_special_tokens=False).input_ids
            assert tok.unk_token_id not in ids, text
            assert tok.decode(ids) == text
        decoded = tok.decode(tok(problem.solution).input_ids)
        assert re.findall(r"\d+", decoded) == re.findall(r"\d+", problem.solution)
        assert re.search(r"Final Answer:\s*(\d+)\s*$", decoded).group(1) == str(problem.answer)
        assert grade(decoded, str(problem.answer), "math").correct
        assert not grade(decoded, str(problem.answer + 1), "math").correct


def test_prompt_words_are_in_vocab_and_extendable(tok):
    prompt_text = " ".join(re.sub(r"\{[^{}]*\}", " ", t) for t in PROMPT_TEMPLATES)
    assert tok.unk_token_id not in tok(prompt_text, add_special_tokens=False).input_ids
    assert tok("Zebra", add_special_tokens=False).input_ids == [tok.unk_token_id]
    extended = build_toy_tokenizer([*PROMPT_TEMPLATES, "A zebra {animal} crossing."])
    assert tok.unk_token_id not in extended("Zebra crossing zebra", add_special_tokens=False).input_ids


def test_chat_template_and_special_tokens(tok, problems):
    messages = [
        {"role": "user", "content": problems[0].text},
        {"role": "assistant", "content": problems[0].solution},
    ]
    text = tok.apply_chat_template(messages, tokenize=False)
    assert (
        text
        == f"<|im_start|>user\n{problems[0].text}<|im_end|>\n<|im_start|>assistant\n{problems[0].solution}<|im_end|>\n"
    )
    assert tok.decode(tok(text).input_ids) == text
    prompt = tok.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert tok.convert_ids_to_tokens([tok.pad_token_id, tok.eos_token_id]) == ["<|pad|>", "<|im_end|>"]
    batch = tok([problems[0].solution, "Final Answer: 7"], padding=True)
    assert batch.input_ids[1][0] == tok.pad_token_id  # left padding for generation


def test_save_and_reload_keep_everything(tok, problems, tmp_path):
    from transformers import AutoTokenizer

    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    texts = [p.solution for p in problems[:50]] + [p.text for p in problems[:50]]
    assert loaded(texts).input_ids == tok(texts).input_ids
    assert [loaded.decode(ids) for ids in loaded(texts).input_ids] == texts
    assert len(loaded) == len(tok) and loaded.get_vocab() == tok.get_vocab()
    assert (loaded.pad_token, loaded.eos_token, loaded.unk_token) == ("<|pad|>", "<|im_end|>", "<|unk|>")
    assert loaded.padding_side == "left" and loaded.chat_template == tok.chat_template


def test_vocab_pads_to_a_model_size_and_every_id_round_trips():
    tok = build_toy_tokenizer(vocab_size=6000)
    assert len(tok) == 6000
    filler = list(range(5950, 6000))  # ids past the toy vocab: what a random model of that size samples
    assert tok(tok.decode(filler), add_special_tokens=False)["input_ids"] == filler
    with pytest.raises(ValueError, match="smaller than the toy vocab"):
        build_toy_tokenizer(vocab_size=10)
