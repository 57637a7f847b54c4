"""The PRM's likelihood features (``prm_likelihood``) on hand numbers and on a tiny real Qwen3: the token
index, the four features, the log-probabilities against the causal LM's own, save/load with a tied and an
untied LM head, and a format-1 checkpoint (hidden-state head only) still loading."""

from __future__ import annotations

import json

import pytest
import torch

from agentark_core.toy.tiny import make_tiny_model
from agentark_core.train.prm_likelihood import FEATURES, likelihood_features, token_index, token_logprobs
from agentark_core.train.prm_model import CONFIG_FILE, HEAD_FILE, PRM, collate_traces, encode_trace

PROMPTS = ["What is 12 + 7 times 3?", "What is 2 + 2?"]
STEPS = [["Step 1: 12 + 7 = 19.", "Step 2: 19 * 3 = 57.", "Final Answer: 57"], ["2 + 2 = 5.", "Final Answer: 5"]]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def untied(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("untied") / "model", tie_word_embeddings=False)


def test_token_index_lists_response_tokens_and_step_ranges():
    # trace A in row 0 at offset 0: steps at tokens 4..5 and 7..9; trace B in row 1 at offset 2: one step 3..3
    index = token_index([(0, 0, [4, 7], [5, 9]), (1, 2, [3], [3])])
    assert index["token_rows"].tolist() == [0] * 6 + [1]
    assert index["token_cols"].tolist() == [4, 5, 6, 7, 8, 9, 5]
    assert index["step_first"].tolist() == [0, 3, 6]
    assert index["step_last"].tolist() == [1, 5, 6]
    assert index["trace_first"].tolist() == [0, 0, 6]


def test_features_by_hand():
    logprobs = torch.tensor([-1.0, -3.0, -0.5, -0.2, -2.0, -0.4, -70.0])
    features = likelihood_features(logprobs, torch.tensor([0, 3, 6]), torch.tensor([1, 5, 6]), torch.tensor([0, 0, 6]))
    assert FEATURES == ("step_mean", "step_min", "prefix_mean", "prefix_min")
    expected = [
        [-2.0, -3.0, -2.0, -3.0],  # step 0: tokens 0-1
        [(-0.2 - 2.0 - 0.4) / 3, -2.0, (-1 - 3 - 0.5 - 0.2 - 2 - 0.4) / 6, -3.0],  # step 1: tokens 3-5, prefix 0-5
        [-20.0, -20.0, -20.0, -20.0],  # the other trace's only step (its own prefix); -70 floored at -20
    ]
    assert torch.allclose(features, torch.tensor(expected), atol=1e-6)


def _flat(nested):
    return [x for inner in nested for x in inner]


def _reference_logprobs(model_path, prompt, steps):
    """Each step's token log-probabilities straight from the causal LM (no PRM code but encode_trace)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    lm = AutoModelForCausalLM.from_pretrained(model_path).eval()
    ids, ends, starts = encode_trace(tokenizer, prompt, steps, "\n\n")
    with torch.no_grad():
        logp = lm(torch.tensor([ids])).logits[0].log_softmax(-1)
    token = [logp[t - 1, ids[t]].item() for t in range(len(ids))]
    return [token[s : e + 1] for s, e in zip(starts, ends)]


@pytest.mark.parametrize("which", ["tiny", "untied"])
def test_untrained_likelihood_score_is_the_lm_prefix_min(which, request):
    path = request.getfixturevalue(which)
    prm = PRM.from_student(path).eval()
    assert not prm.head.weight.any() and not prm.head.bias.any()  # untrained: the likelihood features alone
    assert prm._tied_lm_head() == (which == "tiny")
    for padding_free in (False, True):
        batch = collate_traces([encode_trace(prm.tokenizer, p, s, "\n\n") for p, s in zip(PROMPTS, STEPS)],
                               prm.tokenizer.pad_token_id, padding_free)
        with torch.no_grad():
            scores = prm(**batch).tolist()
        expected = []
        for prompt, steps in zip(PROMPTS, STEPS):
            per_step = _reference_logprobs(path, prompt, steps)
            expected += [max(min(min(s) for s in per_step[: j + 1]), -20) / 4 + 1 for j in range(len(steps))]
        assert scores == pytest.approx(expected, abs=1e-5)
        assert all(-4 <= s <= 1 for s in scores)


@pytest.mark.parametrize("which", ["tiny", "untied"])
def test_save_load_keeps_both_heads_and_the_lm_head(which, request, tmp_path):
    path = request.getfixturevalue(which)
    torch.manual_seed(0)
    prm = PRM.from_student(path)
    with torch.no_grad():
        prm.likelihood_head.weight.normal_(std=0.1)
        prm.lm_head.weight.mul_(1.5)
    scores = prm.score_steps(PROMPTS, STEPS)
    prm.save(tmp_path / "prm")
    meta = json.loads((tmp_path / "prm" / CONFIG_FILE).read_text())
    assert meta["likelihood_features"] and meta["lm_head_tied"] == (which == "tiny") and meta["format_version"] == 2
    loaded = PRM.load(tmp_path / "prm")
    assert _flat(loaded.score_steps(PROMPTS, STEPS)) == pytest.approx(_flat(scores), abs=1e-6)
    half = PRM.load(tmp_path / "prm", dtype=torch.bfloat16)
    assert {p.dtype for p in half.backbone.parameters()} == {half.lm_head.weight.dtype} == {torch.bfloat16}
    assert _flat(half.score_steps(PROMPTS, STEPS)) == pytest.approx(_flat(scores), abs=0.05)
    assert len(set(_flat(scores))) == 5 and all(0.01 < p < 0.99 for p in _flat(scores))
    assert loaded._tied_lm_head() == (which == "tiny")


def test_without_likelihood_features_and_a_format_one_checkpoint(tiny, tmp_path):
    from safetensors.torch import save_file

    prm = PRM.from_student(tiny, likelihood_features=False)
    assert prm.lm_head is None and prm.likelihood_head is None
    assert len(prm.head_parameters()) == 2
    scores = prm.score_steps(PROMPTS, STEPS)
    prm.save(tmp_path / "v2")
    assert _flat(PRM.load(tmp_path / "v2").score_steps(PROMPTS, STEPS)) == pytest.approx(_flat(scores), abs=1e-6)
    # format 1, as written before likelihood features: unprefixed head keys, no feature flags
    prm.backbone.save_pretrained(tmp_path / "v1")
    prm.tokenizer.save_pretrained(tmp_path / "v1")
    save_file({k: v.contiguous() for k, v in prm.head.state_dict().items()}, tmp_path / "v1" / HEAD_FILE)
    meta = {"step_separator": "\n\n", "hidden_size": prm.head.in_features, "format_version": 1}
    (tmp_path / "v1" / CONFIG_FILE).write_text(json.dumps(meta))
    old = PRM.load(tmp_path / "v1")
    assert old.likelihood_head is None
    assert _flat(old.score_steps(PROMPTS, STEPS)) == pytest.approx(_flat(scores), abs=1e-6)


def test_a_batch_without_the_token_index_is_refused(tiny):
    prm = PRM.from_student(tiny)
    batch = collate_traces([encode_trace(prm.tokenizer, PROMPTS[1], STEPS[1], "\n\n")], prm.tokenizer.pad_token_id)
    for key in ("token_rows", "token_cols", "step_first", "step_last", "trace_first"):
        batch.pop(key)
    with pytest.raises(ValueError, match="likelihood features"):
        prm(**batch)


def test_a_trace_without_steps_scores_nothing_and_leaves_the_others_alone(tiny):
    prm = PRM.from_student(tiny)
    alone = prm.score_steps(PROMPTS, STEPS)
    mixed = prm.score_steps([PROMPTS[0], "What is 1 + 1?", PROMPTS[1]], [STEPS[0], [], STEPS[1]])
    assert mixed[1] == [] and _flat([mixed[0], mixed[2]]) == pytest.approx(_flat(alone), abs=1e-6)


def test_chunked_logprobs_equal_one_pass_with_the_same_gradients():
    torch.manual_seed(0)
    lm_head = torch.nn.Linear(8, 50, bias=False)
    hidden = torch.randn(2, 12, 8, requires_grad=True)
    input_ids = torch.randint(0, 50, (2, 12))
    rows, cols = torch.tensor([0] * 7 + [1] * 4), torch.tensor([*range(4, 11), *range(2, 6)])
    whole = token_logprobs(lm_head, hidden, input_ids, rows, cols, chunk=100)
    expected = torch.log_softmax(lm_head(hidden[rows, cols - 1]), -1)[torch.arange(11), input_ids[rows, cols]]
    assert torch.allclose(whole, expected, atol=1e-6)
    (grad_whole,) = torch.autograd.grad(whole.sum(), hidden)
    chunked = token_logprobs(lm_head, hidden, input_ids, rows, cols, chunk=3)  # 4 chunks, recomputed
    assert torch.allclose(chunked, whole, atol=1e-6)
    (grad_chunked,) = torch.autograd.grad(chunked.sum(), hidden)
    assert torch.allclose(grad_chunked, grad_whole, atol=1e-6) and grad_whole.abs().sum() > 0
    with torch.no_grad():
        assert torch.allclose(token_logprobs(lm_head, hidden, input_ids, rows, cols, chunk=3), whole, atol=1e-6)
    assert token_logprobs(lm_head, hidden, input_ids, rows[:0], cols[:0]).shape == (0,)


def test_a_zero3_sharded_head_is_called_as_often_on_every_process():
    """Under ZeRO-3 each call of the head gathers its weight (a collective), and each process's batch holds its
    own number of tokens: a sharded head is called for the most chunks any process needs (one process here:
    its own count, at least one), past its tokens on empty chunks, with the same log-probabilities."""
    torch.manual_seed(0)
    lm_head = torch.nn.Linear(8, 50, bias=False)
    calls = []
    lm_head.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    hidden, input_ids = torch.randn(2, 12, 8), torch.randint(0, 50, (2, 12))
    rows, cols = torch.tensor([0] * 7 + [1] * 4), torch.tensor([*range(4, 11), *range(2, 6)])
    chunked = token_logprobs(lm_head, hidden, input_ids, rows, cols, chunk=3)
    assert calls == [3, 3, 3, 2]
    calls.clear()
    assert token_logprobs(lm_head, hidden, input_ids, rows[:0], cols[:0]).shape == (0,) and calls == []
    lm_head.weight.ds_id = 7  # what deepspeed.zero.Init sets on every parameter it shards
    assert torch.allclose(token_logprobs(lm_head, hidden, input_ids, rows, cols, chunk=3), chunked, atol=1e-6)
    assert calls == [3, 3, 3, 2]
    calls.clear()
    assert token_logprobs(lm_head, hidden, input_ids, rows[:0], cols[:0]).shape == (0,)
    assert calls == [0]  # an empty batch still takes part
