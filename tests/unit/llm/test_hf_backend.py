"""The transformers backend on real tiny models: order, token counts, determinism, stops, choices."""

from __future__ import annotations

import pytest

from agentark_core.llm.types import ChatRequest, Generator, SamplingParams
from agentark_core.toy.tiny import make_tiny_model

ANSWER = "Final Answer: 57"
PROMPTS = [
    "Tom has 5 apples and buys 3 more. How many apples does he have?" * 3,
    "12 + 7",
    "Which option is correct? A) red B) blue C) green D) yellow.",
    "step",
    "These are the opinions of other agents. Use them as additional advice." * 2,
]


@pytest.fixture(scope="module")
def random_gen(tmp_path_factory):
    """A random-init tiny model; a wide init makes its replies depend on the prompt."""
    from agentark_core.llm.hf_backend import TransformersGenerator

    path = make_tiny_model(tmp_path_factory.mktemp("tiny"), initializer_range=0.3)
    return TransformersGenerator(model=path, micro_batch_size=2, show_progress=False)


@pytest.fixture(scope="module")
def parrot_gen(tmp_path_factory):
    """A tiny model trained for a few steps to answer ANSWER then EOS to any prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentark_core.llm.hf_backend import TransformersGenerator

    path = make_tiny_model(tmp_path_factory.mktemp("parrot"))
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    texts = [
        tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
        + ANSWER
        + tok.eos_token
        for p in PROMPTS
    ]
    batch = tok(texts, padding=True, return_tensors="pt", add_special_tokens=False)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    for _ in range(40):
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(path)
    return TransformersGenerator(model=path, show_progress=False)


def _requests() -> list[ChatRequest]:
    system = "You are a helpful agent."
    return [ChatRequest.user(p, system=system if i % 2 else None) for i, p in enumerate(PROMPTS)]


def test_is_a_generator_and_exposes_model(random_gen):
    assert isinstance(random_gen, Generator)
    assert random_gen.model.training is False
    assert random_gen.tokenizer.padding_side == "left"


def test_batch_in_input_order_with_exact_token_counts(random_gen):
    requests = _requests()
    completions = random_gen.generate(requests, SamplingParams(temperature=0, max_tokens=12))
    tok = random_gen.tokenizer
    assert len(completions) == len(requests)
    for request, completion in zip(requests, completions):
        prompt = tok.apply_chat_template(list(request.messages), add_generation_prompt=True, tokenize=False)
        assert completion.prompt_tokens == len(tok(prompt, add_special_tokens=False)["input_ids"])
        ids = completion.extra["token_ids"]
        assert completion.completion_tokens == len(ids) <= 12
        assert tok.decode(ids, skip_special_tokens=True) == completion.text
        assert completion.latency_s > 0
    # prompts differ, so a wrong order would show up as a mismatch with one-at-a-time results
    assert len({c.text for c in completions}) > 1


def test_greedy_batched_equals_one_at_a_time(random_gen):
    params = SamplingParams(temperature=0, max_tokens=10)
    batched = random_gen.generate(_requests(), params)
    single = [random_gen.generate([r], params)[0] for r in _requests()]
    assert [c.text for c in batched] == [c.text for c in single]
    assert [c.completion_tokens for c in batched] == [c.completion_tokens for c in single]


def test_seed_reproduces_sampling(random_gen):
    import torch

    requests = _requests()
    first = random_gen.generate(requests, SamplingParams(temperature=1.0, max_tokens=10, seed=7))
    torch.manual_seed(123)  # the global RNG must not matter when a seed is given
    again = random_gen.generate(requests, SamplingParams(temperature=1.0, max_tokens=10, seed=7))
    other = random_gen.generate(requests, SamplingParams(temperature=1.0, max_tokens=10, seed=8))
    assert [c.text for c in first] == [c.text for c in again]
    assert [c.text for c in first] != [c.text for c in other]


def test_max_tokens_is_respected(random_gen):
    for completion in random_gen.generate(_requests(), SamplingParams(temperature=1.0, max_tokens=3, seed=0)):
        assert completion.completion_tokens <= 3
        assert completion.finish_reason in {"length", "stop"}


def test_eos_ends_the_reply_and_is_counted(parrot_gen):
    completions = parrot_gen.generate(_requests(), SamplingParams(temperature=0, max_tokens=30))
    answer_tokens = len(parrot_gen.tokenizer(ANSWER, add_special_tokens=False)["input_ids"])
    for completion in completions:
        assert completion.text == ANSWER
        assert completion.finish_reason == "stop"
        assert completion.completion_tokens == answer_tokens + 1  # + the EOS token


def test_stop_string_truncates_and_counts_through_it(parrot_gen):
    params = SamplingParams(temperature=0, max_tokens=30, stop=(": 5", "Answer"))
    completion = parrot_gen.generate([ChatRequest.user("12 + 7")], params)[0]
    assert completion.text == "Final "
    assert completion.finish_reason == "stop"
    through = len(parrot_gen.tokenizer("Final Answer", add_special_tokens=False)["input_ids"])
    assert completion.completion_tokens == through


def test_max_tokens_cuts_a_longer_reply(parrot_gen):
    params = SamplingParams(temperature=0, max_tokens=2)
    completion = parrot_gen.generate([ChatRequest.user("12 + 7")], params)[0]
    assert completion.finish_reason == "length"
    assert completion.completion_tokens == 2
    assert ANSWER.startswith(completion.text) and completion.text != ANSWER


def test_guided_choice_returns_the_most_likely_choice(parrot_gen):
    choices = ("Final Answer: 12", ANSWER, "true")
    requests = [ChatRequest.user(p, guided_choice=choices) for p in PROMPTS[:3]]
    requests.append(ChatRequest.user("free"))
    completions = parrot_gen.generate(requests, SamplingParams(temperature=0, max_tokens=30))
    for completion in completions[:3]:
        assert completion.text == ANSWER
        scores = completion.extra["choice_logprobs"]
        assert set(scores) == set(choices) and max(scores, key=scores.get) == ANSWER
    assert completions[3].text == ANSWER and "choice_logprobs" not in completions[3].extra


def test_guided_choice_on_random_model_is_one_of_the_choices(random_gen):
    choices = ("true", "false")
    requests = [ChatRequest.user(p, guided_choice=choices) for p in PROMPTS]
    for completion in random_gen.generate(requests, SamplingParams(temperature=0)):
        assert completion.text in choices
        assert completion.completion_tokens >= 2  # at least one choice token + EOS


def test_bad_options_fail_clearly(tmp_path):
    from agentark_core.llm.hf_backend import TransformersGenerator

    with pytest.raises(ValueError, match="micro_batch_size"):
        TransformersGenerator(model=str(tmp_path), micro_batch_size=0)
    with pytest.raises(ValueError, match="unknown dtype 'float13'"):
        TransformersGenerator(model=str(tmp_path), dtype="float13")
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="threads must be an int >= 1"):
            TransformersGenerator(model=str(tmp_path), threads=bad)


def test_threads_hold_while_generating_then_the_count_is_restored(random_gen, monkeypatch):
    import torch

    from agentark_core.llm.hf_backend import TransformersGenerator

    before = torch.get_num_threads()
    gen = TransformersGenerator(model=random_gen.model.name_or_path, show_progress=False, threads=before + 1)
    seen, generate = [], gen.model.generate
    monkeypatch.setattr(gen.model, "generate", lambda **kw: seen.append(torch.get_num_threads()) or generate(**kw))
    gen.generate(_requests()[:2], SamplingParams(temperature=0, max_tokens=4))
    assert seen == [before + 1] and torch.get_num_threads() == before


@pytest.mark.parametrize("cores, omp, expected", [(2, None, 1), (6, None, 3), (64, None, 4), (1, None, 1),
                                                  (64, "1", "torch")])
def test_default_threads_half_the_cores_at_most_four_unless_omp_says(monkeypatch, cores, omp, expected):
    import torch

    from agentark_core.llm.cpu_threads import default_threads

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cores)))
    if omp:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    else:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert default_threads() == (torch.get_num_threads() if expected == "torch" else expected)


def test_cpu_generator_defaults_to_default_threads(random_gen):
    from agentark_core.llm.cpu_threads import default_threads

    assert random_gen.device.type == "cpu" and random_gen.threads == default_threads()
