"""Reasoning perplexity on a tiny real model: the exact tokens counted and the NLL, checked by hand."""

import math

import pytest

from agentark_core.evaluate.perplexity import reasoning_mask, reasoning_perplexity

PROMPTS = ["Tom has 5 apples and buys 3 more. How many apples does he have?", "What is 12 + 7, times 3?"]
REASONINGS = ["Tom has 5 apples. 5 + 3 = 8.", "Step 1: 12 + 7 = 19. Step 2: 19 * 3 = 57."]
ANSWERS = ["The answer is 8.", "Final Answer: 57"]


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    """The session's tiny real model (``make_tiny_model``), loaded once for this module."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_model_path
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path), path


def _manual_text(prompt, reasoning, answer):
    """The tiny model's chat template written out by hand."""
    return f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n{reasoning}\n{answer}<|im_end|>\n"


@pytest.mark.parametrize("i", [0, 1])
def test_counted_tokens_are_exactly_the_reasoning_tokens(tiny, i):
    _, tok, _ = tiny
    ids, mask = reasoning_mask(tok, PROMPTS[i], REASONINGS[i], ANSWERS[i])
    prefix = f"<|im_start|>user\n{PROMPTS[i]}<|im_end|>\n<|im_start|>assistant\n"
    prefix_ids = tok(prefix, add_special_tokens=False)["input_ids"]
    reasoning_ids = tok(REASONINGS[i], add_special_tokens=False)["input_ids"]
    assert (
        ids == tok(_manual_text(PROMPTS[i], REASONINGS[i], ANSWERS[i]), add_special_tokens=False)["input_ids"]
    )
    # the prompt part is untouched, then exactly the reasoning tokens are counted, nothing after
    assert mask == [False] * len(prefix_ids) + [True] * len(reasoning_ids) + [False] * (
        len(ids) - len(prefix_ids) - len(reasoning_ids)
    )
    assert ids[: len(prefix_ids)] == prefix_ids
    assert ids[len(prefix_ids) : len(prefix_ids) + len(reasoning_ids)] == reasoning_ids
    assert tok.decode([t for t, m in zip(ids, mask) if m]) == REASONINGS[i]


def test_perplexity_matches_manual_nll(tiny):
    import torch

    model, tok, _ = tiny
    result = reasoning_perplexity(model, PROMPTS, REASONINGS, ANSWERS, tokenizer=tok, batch_size=2)
    total_nll, total_count = 0.0, 0
    for i in range(2):
        ids, mask = reasoning_mask(tok, PROMPTS[i], REASONINGS[i], ANSWERS[i])
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
        nll = [-float(logp[t - 1, ids[t]]) for t in range(1, len(ids)) if mask[t]]
        assert result.per_item[i] == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-4)
        total_nll += sum(nll)
        total_count += len(nll)
    assert result.value == pytest.approx(math.exp(total_nll / total_count), rel=1e-4)
    assert result.details["tokens"] == total_count
    assert result.n == 2


def test_answer_tokens_do_not_count_and_batching_is_exact(tiny):
    model, tok, _ = tiny
    one_by_one = reasoning_perplexity(model, PROMPTS, REASONINGS, ANSWERS, tokenizer=tok, batch_size=1)
    other_answers = reasoning_perplexity(
        model, PROMPTS, REASONINGS, ["42", "a much longer and different final answer"], tokenizer=tok
    )
    assert other_answers.per_item == pytest.approx(one_by_one.per_item, rel=1e-5)
    other_prompt = reasoning_perplexity(model, ["hi", "hi"], REASONINGS, ANSWERS, tokenizer=tok)
    assert other_prompt.per_item != pytest.approx(one_by_one.per_item, rel=1e-5)


def test_loads_from_path(tiny):
    model, tok, path = tiny
    from_path = reasoning_perplexity(path, PROMPTS[:1], REASONINGS[:1], ANSWERS[:1])
    direct = reasoning_perplexity(model, PROMPTS[:1], REASONINGS[:1], ANSWERS[:1], tokenizer=tok)
    assert from_path.value == pytest.approx(direct.value, rel=1e-5)


def test_bad_inputs(tiny):
    model, tok, _ = tiny
    with pytest.raises(ValueError, match="trace 1: reasoning is empty"):
        reasoning_perplexity(model, PROMPTS, [REASONINGS[0], "  "], ANSWERS, tokenizer=tok)
    with pytest.raises(ValueError, match="2 prompts, 1 reasonings"):
        reasoning_perplexity(model, PROMPTS, REASONINGS[:1], ANSWERS, tokenizer=tok)
