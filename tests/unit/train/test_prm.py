"""PRM on a tiny real Qwen3: step encoding, losses against hand math, the two-stage curriculum, save/load."""

from __future__ import annotations

import math

import pytest
import torch

from agentark_core.toy.tiny import make_tiny_model
from agentark_core.train.prm_loss import PRM_LOSSES, bce_loss, contrastive_bce_loss, contrastive_loss
from agentark_core.train.prm_model import PRM, encode_trace
from agentark_core.train.prm_train import (
    PRMConfig,
    _engine,
    _scheduler,
    batch_tensors,
    load_traces,
    question_batches,
    run_stage,
    set_stage,
    shared_engine,
    split_examples,
    stage_rates,
    train_prm,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _rows():
    rows = []
    for q in range(3):
        a, b = q + 3, q + 4
        prompt = f"What is {a} + {b} times 2?"
        traces = {
            "good": ([f"Step 1: {a} + {b} = {a + b}.", f"Step 2: {a + b} * 2 = {2 * (a + b)}."], [1, 1]),
            "late": ([f"Step 1: {a} + {b} = {a + b}.", f"Step 2: {a + b} * 2 = {a + b}."], [1, 0]),
            "early": (
                [f"Step 1: {a} + {b} = {a}.", f"Step 2: {a} * 2 = {2 * a}.", "Final Answer: 7"],
                [0, 0, 0],
            ),
        }
        for name, (steps, labels) in traces.items():
            rows.append(
                {
                    "question_id": f"q{q}",
                    "trace_id": f"q{q}-{name}",
                    "prompt": prompt,
                    "steps": steps,
                    "step_labels": labels,
                    "is_correct": name == "good",
                    "source": "final",
                }
            )
    return rows


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_contrastive_loss_matches_hand_computation():
    # group 0 (q1, step 0): positives 2.0 and 0.0, negatives -1.0 and 0.5
    # group 1 (q1, step 1): positive 0.3, negative 1.2
    # group 2 (q2, step 0): positive 1.0 with no negative -> not in the mean
    scores = torch.tensor([2.0, 0.0, -1.0, 0.5, 0.3, 1.2, 1.0], requires_grad=True)
    labels = torch.tensor([1, 1, 0, 0, 1, 0, 1])
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    tau = 0.1

    def term(pos, negs):  # −log( e^{σ(s⁺)/τ} / (e^{σ(s⁺)/τ} + Σ e^{σ(s⁻)/τ}) )
        num = math.exp(_sigmoid(pos) / tau)
        return -math.log(num / (num + sum(math.exp(_sigmoid(n) / tau) for n in negs)))

    expected = (term(2.0, [-1.0, 0.5]) + term(0.0, [-1.0, 0.5]) + term(0.3, [1.2])) / 3
    loss = contrastive_loss(scores, labels, groups, tau)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert scores.grad[6] == 0 and scores.grad[:6].abs().min() > 0


@pytest.mark.parametrize("tau", [0.05, 0.1, 0.5, 2.0])
def test_contrastive_loss_temperature_and_floor(tau):
    # one positive at σ = 0.8, two negatives at σ = 0.3 and 0.6: −log(e^{.8/τ} / (e^{.8/τ} + e^{.3/τ} + e^{.6/τ}))
    logit = lambda p: math.log(p / (1 - p))
    scores = torch.tensor([logit(0.8), logit(0.3), logit(0.6)], dtype=torch.float64)
    labels, groups = torch.tensor([1, 0, 0]), torch.tensor([4, 4, 4])
    expected = math.log(1 + math.exp((0.3 - 0.8) / tau) + math.exp((0.6 - 0.8) / tau))
    assert contrastive_loss(scores, labels, groups, tau).item() == pytest.approx(expected, rel=1e-9)
    # the floor: σ(s⁺) -> 1 and σ(s⁻) -> 0 still leave log(1 + |N|·e^(−1/τ)), |N| = 2 here
    floor = math.log(1 + 2 * math.exp(-1 / tau))
    perfect = torch.tensor([40.0, -40.0, -40.0], dtype=torch.float64)
    assert contrastive_loss(perfect, labels, groups, tau).item() == pytest.approx(floor, rel=1e-9)
    noisy = torch.randn(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 5
    assert all(contrastive_loss(row, labels, groups, tau).item() >= floor - 1e-12 for row in noisy)


def test_contrastive_loss_floor_grows_with_negatives_and_temperature():
    def floor_of(m, tau):
        scores = torch.tensor([40.0] + [-40.0] * m, dtype=torch.float64)
        labels = torch.tensor([1] + [0] * m)
        return contrastive_loss(scores, labels, torch.zeros(m + 1, dtype=torch.long), tau).item()

    for m, tau in [(1, 0.1), (4, 0.1), (4, 1.0), (16, 0.5)]:
        assert floor_of(m, tau) == pytest.approx(math.log(1 + m * math.exp(-1 / tau)), rel=1e-9)
    assert floor_of(4, 0.1) < 1e-3 < floor_of(4, 1.0)  # τ = 1 cannot go below log(1 + 4/e) ≈ 0.98


def test_contrastive_loss_without_pairs_is_a_differentiable_zero():
    scores = torch.tensor([0.4, -0.2], requires_grad=True)
    loss = contrastive_loss(scores, torch.tensor([1, 1]), torch.tensor([0, 1]), 0.1)
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(scores.grad, torch.zeros(2))


def test_bce_loss_matches_hand_computation():
    scores, labels = torch.tensor([1.5, -0.5]), torch.tensor([1, 0])
    expected = -(math.log(_sigmoid(1.5)) + math.log(1 - _sigmoid(-0.5))) / 2
    assert bce_loss(scores, labels, torch.tensor([0, 0])).item() == pytest.approx(expected, rel=1e-6)


def test_contrastive_bce_is_the_sum_of_both():
    scores = torch.tensor([1.5, -0.5, 0.2, 2.0], dtype=torch.float64)
    labels, groups = torch.tensor([1, 0, 0, 1]), torch.tensor([0, 0, 0, 1])
    expected = contrastive_loss(scores, labels, groups, 0.2) + bce_loss(scores, labels, groups)
    assert contrastive_bce_loss(scores, labels, groups, 0.2).item() == pytest.approx(expected.item(), rel=1e-12)
    # the BCE term still moves a step whose group has no pair (index 3), which the contrastive term does not
    free = scores.clone().requires_grad_(True)
    contrastive_bce_loss(free, labels, groups, 0.2).backward()
    assert free.grad[3] < 0


def test_unknown_loss_lists_valid_names():
    with pytest.raises(KeyError, match="bce, contrastive, contrastive_bce"):
        PRMConfig(loss="hinge")
    assert PRM_LOSSES.names() == ["bce", "contrastive", "contrastive_bce"]


def test_encode_trace_points_at_each_step_end(tiny):
    prm = PRM.from_student(tiny)
    steps = ["Step 1: 12 + 7 = 19.", "Step 2: 19 * 3 = 57.", "Final Answer: 57"]
    ids, ends, starts = encode_trace(prm.tokenizer, "What is 12 + 7 times 3?", steps, "\n\n")
    assert len(ends) == len(starts) == 3 and ends[-1] == len(ids) - 1
    for step, start, end in zip(steps, starts, ends):
        assert prm.tokenizer.decode(ids[: end + 1]).endswith(step)
        assert not prm.tokenizer.decode(ids[:end]).endswith(step)
        assert prm.tokenizer.decode(ids[start : end + 1]).strip() == step  # the step's tokens, no separator
        assert not prm.tokenizer.decode(ids[start + 1 : end + 1]).strip().startswith(step[:2])
    _, cut, cut_starts = encode_trace(prm.tokenizer, "What is 12 + 7 times 3?", steps, "\n\n", max_length=ends[1])
    assert cut == ends[:1] and cut_starts == starts[:1]


def test_load_traces_rejects_bad_rows(tiny):
    prm = PRM.from_student(tiny)
    rows = _rows()
    rows[2]["step_labels"] = [0, 0]
    with pytest.raises(ValueError, match="row 2: 3 steps but 2 step_labels"):
        load_traces(rows, prm.tokenizer, PRMConfig())
    rows = _rows()
    rows[1]["step_labels"] = [1, 2]
    with pytest.raises(ValueError, match="row 1, column 'step_labels'"):
        load_traces(rows, prm.tokenizer, PRMConfig())


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("loss", ["contrastive", "bce"])
def test_curriculum_stages_and_save_load(tiny, tmp_path, loss):
    torch.manual_seed(0)
    prm = PRM.from_student(tiny)
    config = PRMConfig(
        loss=loss,
        traces_per_batch=6,
        stage1_learning_rate=1e-2,
        stage2_learning_rate=1e-2,
        warmup_ratio=0.0,
        gradient_accumulation_steps=2,
    )
    traces = load_traces(_rows(), prm.tokenizer, config)
    before = _snapshot(prm)
    last = {k for k in before if k.startswith("backbone.layers.1.")}  # the tiny model has 2 blocks
    stage_one = last | {"head.weight", "head.bias", "likelihood_head.weight", "likelihood_head.bias"}
    curve = run_stage(prm, traces, PRMConfig(**{**config.__dict__, "stage1_max_steps": 2}), stage=1)
    after1 = _snapshot(prm)
    assert len(curve) == 2 and all(math.isfinite(r["loss"]) for r in curve)
    changed = {k for k in before if not torch.equal(before[k], after1[k])}
    assert changed == stage_one and len(last) > 3

    curve = run_stage(
        prm, traces, PRMConfig(**{**config.__dict__, "stage2_max_steps": 2}), stage=2, first_step=2
    )
    after2 = _snapshot(prm)
    assert [r["step"] for r in curve] == [3, 4] and all(math.isfinite(r["loss"]) for r in curve)
    assert [k for k in after1 if torch.equal(after1[k], after2[k])] == []

    prompts = [r["prompt"] for r in _rows()]
    steps = [r["steps"] for r in _rows()]
    scores = prm.score_steps(prompts, steps, batch_size=4)
    assert [len(s) for s in scores] == [len(s) for s in steps]
    assert all(0 < p < 1 for trace in scores for p in trace)
    prm.save(tmp_path / "prm")
    loaded = PRM.load(tmp_path / "prm")
    assert loaded.score_steps(prompts, steps, batch_size=4) == scores
    rebatched = loaded.score_steps(prompts, steps, batch_size=3)  # other padding: equal up to float error
    assert [p for t in rebatched for p in t] == pytest.approx([p for t in scores for p in t], abs=1e-5)


def test_train_prm_end_to_end(tiny, tmp_path, capfd):
    config = PRMConfig(stage1_max_steps=2, stage2_epochs=1, traces_per_batch=6, stage2_learning_rate=1e-3,
                       heldout_fraction=0.0)
    metrics = train_prm(tiny, _rows(), str(tmp_path / "prm"), config)
    bars = capfd.readouterr().err.replace("\r", "\n")
    assert "PRM stage 1: 100%" in bars and "PRM stage 2: 100%" in bars and "loss=" in bars
    assert metrics["stage1_steps"] == 2 and metrics["stage2_steps"] == 2  # 9 traces, 6 per batch -> 2 batches
    assert [r["stage"] for r in metrics["loss_curve"]] == [1, 1, 2, 2]
    assert all(math.isfinite(r["loss"]) for r in metrics["loss_curve"])
    assert metrics["num_traces"] == 9 and metrics["num_steps"] == 21 and metrics["num_tokens"] > 0
    assert metrics["heldout_questions"] == 0
    held = train_prm(tiny, _rows(), str(tmp_path / "prm-held"), PRMConfig(
        stage1_max_steps=1, stage2_max_steps=1, heldout_fraction=0.4))  # 3 questions -> 1 held out
    assert held["heldout_questions"] == 1 and held["num_traces"] == 6
    prm = PRM.load(tmp_path / "prm")
    assert [len(s) for s in prm.score_steps(["What is 1 + 1?"], [["1 + 1 = 2.", "Final Answer: 2"]])] == [2]
    assert prm.score_steps([], []) == []


def _trace(question, labels, length=3):
    return {"question_id": question, "input_ids": list(range(1, length + 1)),
            "step_ends": list(range(1, len(labels) + 1)), "step_starts": list(range(1, len(labels) + 1)),
            "labels": labels}


def test_negatives_are_the_same_question_same_position_incorrect_steps():
    # q1 has two traces: position 0 both correct, position 1 one wrong; q2's wrong step 1 is NOT q1's negative
    batch = [_trace("q1", [1, 1]), _trace("q1", [1, 0]), _trace("q2", [1, 0]), _trace("q2", [0])]
    tensors = batch_tensors(batch, pad_token_id=0)
    assert tensors["labels"].tolist() == [1, 1, 1, 0, 1, 0, 0]
    #                  q1 t1: pos0 pos1 | q1 t2: pos0 pos1 | q2 t1: pos0 pos1 | q2 t2: pos0
    assert tensors["groups"].tolist() == [0, 1, 0, 1, 2, 3, 2]
    scores = torch.tensor([0.5, 2.0, -1.0, 0.0, 1.0, 3.0, -2.0], dtype=torch.float64)
    # pairs: group 1 -> positive 2.0 vs negative 0.0; group 2 -> positive 1.0 vs negative -2.0
    # (group 0 has no negative, group 3 no positive; q2's 3.0 never competes with q1's steps)
    tau = 0.1

    def term(pos, neg):
        return math.log(1 + math.exp((_sigmoid(neg) - _sigmoid(pos)) / tau))

    expected = (term(2.0, 0.0) + term(1.0, -2.0)) / 2
    loss = contrastive_loss(scores, tensors["labels"], tensors["groups"], tau)
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_question_batches_keep_questions_whole_and_cover_every_trace_once():
    import random

    traces = [_trace(f"q{q}", [1]) | {"trace": (q, t)} for q in range(7) for t in range(q % 3 + 1)]
    batches = question_batches(traces, traces_per_batch=4, rng=random.Random(0))
    seen = [t["trace"] for b in batches for t in b]
    assert sorted(seen) == sorted(t["trace"] for t in traces)
    homes = {}
    for i, batch in enumerate(batches):
        assert len(batch) <= 4
        for t in batch:
            assert homes.setdefault(t["question_id"], i) == i  # a question's traces share one batch
    assert batches == question_batches(traces, 4, random.Random(0))  # the seed fixes the order
    assert [t["trace"] for b in question_batches(traces, 4, random.Random(1)) for t in b] != seen


def test_curriculum_parameter_sets(tiny):
    prm = PRM.from_student(tiny)
    names = {id(p): n for n, p in prm.named_parameters()}
    stage_one = {names[id(p)] for p in set_stage(prm, 1)}
    heads = ("head.", "likelihood_head.")
    assert stage_one == {n for n, _ in prm.named_parameters() if n.startswith(("backbone.layers.1.", *heads))}
    assert {"likelihood_head.weight", "likelihood_head.bias"} < stage_one
    assert {n for n, p in prm.named_parameters() if p.requires_grad} == stage_one
    assert not any(n.startswith(("backbone.embed_tokens", "backbone.layers.0.", "backbone.norm")) for n in stage_one)
    everything = {names[id(p)] for p in set_stage(prm, 2)}
    assert everything == set(names.values()) and all(p.requires_grad for p in prm.parameters())
    assert {names[id(p)] for p in set_stage(prm, 1)} == stage_one  # back to stage I freezes again


def test_heads_train_at_their_own_learning_rate(tiny):
    prm = PRM.from_student(tiny)
    params = set_stage(prm, 1)
    config = PRMConfig(stage1_learning_rate=1e-4, head_learning_rate=1e-2)
    optimizer = _engine(prm, params, config).optimizer
    _scheduler(optimizer, prm, config, 1, 10)
    lrs = {id(p): group["initial_lr"] for group in optimizer.param_groups for p in group["params"]}
    assert len(lrs) == len(params) == len(list(prm.last_block().parameters())) + 4  # two heads, weight + bias
    assert {lrs[id(p)] for p in prm.head_parameters()} == {1e-2}
    assert {lrs[id(p)] for p in prm.last_block().parameters()} == {1e-4}
    config = PRMConfig(stage1_learning_rate=1e-4)
    optimizer = _engine(prm, params, config).optimizer
    _scheduler(optimizer, prm, config, 1, 10)
    assert [g["initial_lr"] for g in optimizer.param_groups] == [1e-4, 1e-4]  # last block, heads
    with pytest.raises(ValueError, match="head_learning_rate"):
        PRMConfig(head_learning_rate=0.0)


def test_one_engine_for_both_stages_trains_what_each_stage_trains(tiny):
    """The ZeRO layout (one optimizer over every parameter, built once): Stage I moves only the last block and
    the heads (the frozen rest gets no gradient and rate 0), Stage II everything, from a fresh AdamW state."""
    torch.manual_seed(0)
    prm = PRM.from_student(tiny)
    config = PRMConfig(stage1_max_steps=2, stage2_max_steps=2, traces_per_batch=6, stage1_learning_rate=1e-2,
                       stage2_learning_rate=1e-2, head_learning_rate=3e-2, warmup_ratio=0.0)
    engine = shared_engine(prm, config)
    assert [g["name"] for g in engine.optimizer.param_groups] == ["last_block", "backbone", "heads"]
    traces = load_traces(_rows(), prm.tokenizer, config)
    before = _snapshot(prm)
    run_stage(prm, traces, config, stage=1, engine=engine)
    after1 = _snapshot(prm)
    stage_one = {k for k in before if k.startswith(("backbone.layers.1.", "head.", "likelihood_head."))}
    assert {k for k in before if not torch.equal(before[k], after1[k])} == stage_one
    rates = [g["initial_lr"] for g in engine.optimizer.param_groups]  # the stage's rates (the schedule decays them)
    assert rates == [1e-2, 0.0, 3e-2] == list(stage_rates(config, 1).values())
    steps_one = {id(p): int(s["step"]) for p, s in engine.optimizer.state.items()}
    assert set(steps_one.values()) == {2}
    curve = run_stage(prm, traces, config, stage=2, first_step=2, engine=engine)
    after2 = _snapshot(prm)
    assert [r["step"] for r in curve] == [3, 4]
    assert [k for k in after1 if torch.equal(after1[k], after2[k])] == []
    assert {int(s["step"]) for s in engine.optimizer.state.values()} == {2}  # Stage II's AdamW started afresh


def test_split_examples_holds_out_whole_questions():
    rows = [r | {"question_id": f"{r['question_id']}-{copy}"} for copy in range(5) for r in _rows()]  # 15 questions
    train, held = split_examples(rows, PRMConfig(heldout_fraction=0.2))
    assert len({r["question_id"] for r in held}) == 3 and len(train) + len(held) == len(rows)
    assert not {r["question_id"] for r in train} & {r["question_id"] for r in held}
    _, again_held = split_examples(list(reversed(rows)), PRMConfig(heldout_fraction=0.2))
    assert {r["trace_id"] + r["question_id"] for r in again_held} == {r["trace_id"] + r["question_id"] for r in held}
    assert split_examples(rows, PRMConfig(heldout_fraction=0.0))[1] == []
    with pytest.raises(ValueError, match="heldout_fraction"):
        PRMConfig(heldout_fraction=1.0)
    with pytest.raises(KeyError, match="step aggregation"):
        PRMConfig(eval_aggregation="median")


def test_zero_engine_grad_norm_is_a_tensor_on_the_model_device(tiny, monkeypatch):
    """The loss curve stacks each step's loss and grad norm in one transfer, so the norm an engine reports must
    sit on the model's device (a DeepSpeed engine returns a host float: on CUDA a CPU norm broke the stack)."""
    from agentark_core.train.engine import TrainEngine

    prm = PRM.from_student(tiny)
    engine = TrainEngine(prm, [{"params": list(prm.head_parameters()), "lr": 1e-3}], 1, 1.0, prm.device)
    engine.stage, engine.model = 2, type("DeepSpeedLike", (), {"get_global_grad_norm": lambda self: 2.5})()
    norm = engine.step()
    assert torch.is_tensor(norm) and norm.device == prm.device and norm.item() == 2.5
