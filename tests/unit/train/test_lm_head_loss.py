"""The weighted LM-head loss (gradients taken in the forward pass) equals plain logits + log-softmax:
value and gradients, chunked or not, under bf16 autocast within bf16 tolerance; bad inputs are named."""

from __future__ import annotations

import pytest
import torch

from agentark_core.train.lm_head_loss import weighted_lm_head_loss


def _reference(hidden, weight, targets, weights):
    log_probs = torch.log_softmax(hidden.float() @ weight.float().t(), dim=-1)
    return -(log_probs.gather(1, targets[:, None]).squeeze(1) * weights).sum()


def _inputs(n=37, hidden_size=16, vocab=50, seed=0):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, hidden_size, generator=gen, requires_grad=True)
    weight = torch.randn(vocab, hidden_size, generator=gen, requires_grad=True)
    targets = torch.randint(0, vocab, (n,), generator=gen)
    weights = torch.rand(n, generator=gen) * 2
    return hidden, weight, targets, weights


@pytest.mark.parametrize("chunk", [5, 64])
def test_value_and_gradients_equal_full_logits(chunk):
    hidden, weight, targets, weights = _inputs()
    ours = weighted_lm_head_loss(hidden, weight, targets, weights, chunk=chunk)
    (2.5 * ours).backward()  # an upstream gradient other than 1 is applied to the stored gradients
    ours_grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    ref = _reference(hidden, weight, targets, weights)
    (2.5 * ref).backward()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    assert torch.allclose(ours_grads[0], hidden.grad, atol=1e-5)
    assert torch.allclose(ours_grads[1], weight.grad, atol=1e-5)


def test_bf16_autocast_stays_close_and_keeps_parameter_dtypes():
    hidden, weight, targets, weights = _inputs(n=64, vocab=300)
    with torch.autocast("cpu", torch.bfloat16):
        ours = weighted_lm_head_loss(hidden, weight, targets, weights, chunk=16)
    ours.backward()
    assert ours.dtype == torch.float32 and hidden.grad.dtype == weight.grad.dtype == torch.float32
    ref = _reference(hidden, weight, targets, weights)
    assert ours.item() == pytest.approx(ref.item(), rel=2e-2)


def test_frozen_weight_gets_no_gradient_and_no_grad_mode_works():
    hidden, weight, targets, weights = _inputs()
    weight.requires_grad_(False)
    weighted_lm_head_loss(hidden, weight, targets, weights).backward()
    assert weight.grad is None and hidden.grad is not None and torch.isfinite(hidden.grad).all()
    with torch.no_grad():
        value = weighted_lm_head_loss(hidden, weight, targets, weights)
    assert value.item() == pytest.approx(_reference(hidden, weight, targets, weights).item(), rel=1e-5)


def test_zero_weights_give_zero_loss_and_gradient():
    hidden, weight, targets, weights = _inputs()
    loss = weighted_lm_head_loss(hidden, weight, targets, torch.zeros_like(weights))
    loss.backward()
    assert loss.item() == 0.0 and hidden.grad.abs().max() == 0 and weight.grad.abs().max() == 0


def test_bad_inputs_are_named():
    hidden, weight, targets, weights = _inputs()
    with pytest.raises(ValueError, match=r"targets \(36,\) and weights \(37,\) do not match"):
        weighted_lm_head_loss(hidden, weight, targets[:-1], weights)
    with pytest.raises(ValueError, match=r"outside the vocabulary \[0, 50\)"):
        weighted_lm_head_loss(hidden, weight, targets.clone().fill_(50), weights)


def test_a_zero3_sharded_head_goes_through_its_module_with_the_same_loss_and_gradients():
    """Under ZeRO-3 the head's weight is whole only inside the head's forward: the loss then calls the
    module (full logits of the scored positions) and must give what the chunked path gives."""
    from agentark_core.train.lm_head_loss import head_module_loss, zero3_partitioned

    torch.manual_seed(0)
    head = torch.nn.Linear(16, 40, bias=False)
    hidden = torch.randn(12, 16, requires_grad=True)
    targets, weights = torch.randint(0, 40, (12,)), torch.rand(12)
    chunked = weighted_lm_head_loss(hidden, head.weight, targets, weights, chunk=5)
    grads = torch.autograd.grad(chunked, (hidden, head.weight))
    through_module = head_module_loss(head, hidden, targets, weights)
    module_grads = torch.autograd.grad(through_module, (hidden, head.weight))
    assert through_module.item() == pytest.approx(chunked.item(), rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, module_grads))
    assert not zero3_partitioned(head.weight)
    head.weight.ds_id = 7  # what deepspeed.zero.Init sets on every parameter it shards
    assert zero3_partitioned(head.weight)
