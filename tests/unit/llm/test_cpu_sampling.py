"""Inverse-CDF sampling in place of torch.multinomial for CPU generate (agentark_core/llm/cpu_sampling.py)."""

import copy

import pytest
import torch

from agentark_core.llm.cpu_sampling import InverseCdfSampler, install_fast_sampling


def _counts(tokens: torch.Tensor, vocab: int) -> torch.Tensor:
    return torch.bincount(tokens.flatten(), minlength=vocab).float()


def _within_binomial(counts: torch.Tensor, probs: torch.Tensor, sigmas: float = 4.5) -> bool:
    n = counts.sum()
    expected = n * probs
    spread = (n * probs * (1 - probs)).sqrt().clamp(min=1.0)
    return bool(((counts - expected).abs() <= sigmas * spread).all())


def test_sampler_draws_from_the_softmax_and_never_a_zero_probability_token():
    torch.manual_seed(0)
    probs = torch.tensor([0.5, 0.0, 0.3, 0.15, 0.0, 0.05])
    scores = probs.log().expand(60_000, -1).clone()  # log 0 = -inf: masked tokens, as a top-k warper leaves them
    out = InverseCdfSampler()(None, scores)
    assert torch.isinf(out).sum(dim=1).eq(probs.numel() - 1).all()  # one finite score a row
    assert out.max(dim=1).values.eq(0).all()
    counts = _counts(out.argmax(dim=1), probs.numel())
    assert counts[1] == 0 and counts[4] == 0
    assert _within_binomial(counts, probs)
    assert not _within_binomial(counts, torch.tensor([0.4, 0.0, 0.4, 0.15, 0.0, 0.05]))  # the check can fail


@pytest.fixture(scope="module")
def model_and_prompt(tiny_model_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path).eval()
    ids = tokenizer("the cat sat on", return_tensors="pt").input_ids
    return model, ids, tokenizer.pad_token_id


def _first_tokens(model, ids, rows: int, **kwargs) -> torch.Tensor:
    torch.manual_seed(1)
    with torch.no_grad():
        out = model.generate(input_ids=ids.expand(rows, -1), attention_mask=torch.ones(rows, ids.shape[1], dtype=torch.long),
                             max_new_tokens=1, **kwargs)
    return out[:, -1]


def test_generate_samples_at_the_warped_distribution_without_multinomial(model_and_prompt, monkeypatch):
    model, ids, pad = model_and_prompt
    model = copy.deepcopy(model)
    assert install_fast_sampling(model) and not install_fast_sampling(model)
    with torch.no_grad():
        logits = model(ids).logits[0, -1] / 0.5
    top = logits.topk(5)
    probs = torch.zeros_like(logits).scatter_(0, top.indices, top.values.softmax(-1))

    def no_multinomial(*args, **kwargs):
        raise AssertionError("torch.multinomial called")

    monkeypatch.setattr(torch, "multinomial", no_multinomial)
    tokens = _first_tokens(model, ids, 6000, do_sample=True, temperature=0.5, top_k=5, top_p=1.0, pad_token_id=pad)
    counts = _counts(tokens, logits.numel())
    assert counts[probs == 0].sum() == 0  # top-k applied
    assert _within_binomial(counts, probs)  # temperature applied before the draw
    flat = torch.zeros_like(logits).scatter_(0, top.indices, (top.values * 0.5).softmax(-1))  # T = 1 instead
    assert not _within_binomial(counts, flat)


def test_generation_config_calls_greedy_calls_and_copies(model_and_prompt, monkeypatch):
    from transformers import GenerationConfig

    model, ids, pad = model_and_prompt
    fast = copy.deepcopy(model)
    install_fast_sampling(fast)
    config = GenerationConfig(do_sample=True, temperature=0.7, top_k=0, max_new_tokens=4, pad_token_id=pad)
    with monkeypatch.context() as patch:
        patch.setattr(torch, "multinomial", None)  # any call of it fails
        sampled = fast.generate(input_ids=ids, generation_config=config)
        fast.generate(input_ids=ids, generation_config=config, do_sample=True, temperature=0.9)  # config + kwargs
    assert sampled.shape == (1, ids.shape[1] + 4)
    assert config.do_sample is True and config.temperature == 0.7  # the caller's config is not changed
    greedy = {"do_sample": False, "max_new_tokens": 6, "pad_token_id": pad}
    assert torch.equal(fast.generate(input_ids=ids, **greedy), model.generate(input_ids=ids, **greedy))
    clone = copy.deepcopy(fast)  # the bound wrapper follows the copy, not the model it was installed on
    assert clone.generate.__self__ is clone


def test_calls_it_cannot_mirror_go_to_transformers(model_and_prompt):
    model, ids, pad = model_and_prompt
    fast = copy.deepcopy(model)
    install_fast_sampling(fast)
    out = fast.generate(input_ids=ids, do_sample=True, top_k=0, max_new_tokens=2, pad_token_id=pad,
                        output_scores=True, return_dict_in_generate=True)
    assert torch.isfinite(out.scores[0]).sum() > 1  # real scores, not the sampler's one finite entry
