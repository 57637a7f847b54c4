"""Weighted next-token loss from hidden states through the LM head, with gradients taken in the forward pass.

The R-SFT objective (paper §3.3.1) is ``Σ_t w_t · nll_t`` over the scored (completion) tokens. With a
student's vocabulary of ~150k the logits of one batch are gigabytes, so they are built a chunk of
tokens at a time; because the loss is linear in each token's term, the chunk's gradients with
respect to the hidden states and the LM-head weight are taken right there (softmax − one-hot,
times the token's weight) and kept. The backward pass only scales them by the incoming gradient:
three LM-head matmuls per token instead of the four of a chunked head that recomputes its logits.

Only scored positions reach the head (the caller gathers them), and nothing is computed for metrics
the loss does not need (entropy, top-1 accuracy).

Example:
    >>> loss_sum = weighted_lm_head_loss(hidden[positions], lm_head.weight, targets, weights)  # doctest: +SKIP
"""

from __future__ import annotations

import torch

# tokens per logits chunk: 8192 × 152k bf16 logits = 2.5 GB, plus as much for their gradient
CHUNK_TOKENS = 8192


def tile_terms(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor):
    """Per-token nll and the weighted logits gradient of one chunk.

    Args:
        logits: ``(n, V)`` in the compute dtype.
        targets: ``(n,)`` token ids.
        weights: ``(n,)`` fp32 loss weights.

    Returns:
        ``(nll (n,) fp32, grad (n, V) = w · (softmax − one_hot) in the logits' dtype)``.
    """
    x = logits.float()
    lse = torch.logsumexp(x, dim=-1)
    target_logit = x.gather(1, targets[:, None]).squeeze(1)
    vocab = torch.arange(x.shape[1], device=x.device)
    one_hot = (vocab[None, :] == targets[:, None]).to(x.dtype)
    grad = (torch.exp(x - lse[:, None]) - one_hot) * weights[:, None]
    return lse - target_logit, grad.to(logits.dtype)


_COMPILED_TILE = {}


def _tile_fn(device: torch.device):
    """``tile_terms`` compiled into two fused kernels on CUDA (one read for the log-sum-exp, one read
    and one write for the gradient); eager elsewhere."""
    if device.type != "cuda":
        return tile_terms
    if "cuda" not in _COMPILED_TILE:
        _COMPILED_TILE["cuda"] = torch.compile(tile_terms, dynamic=True)
    return _COMPILED_TILE["cuda"]


def _accumulate_fp32(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """``acc += a @ b`` for an fp32 ``acc``: on CUDA one GEMM that accumulates the half-precision product
    in fp32 straight into ``acc`` (no rounded bf16 product, no separate add over the ``V × H`` gradient);
    elsewhere a matmul and an add."""
    if acc.is_cuda and a.dtype in (torch.bfloat16, torch.float16):
        torch.addmm(acc, a, b, out_dtype=torch.float32, out=acc)
    else:
        acc += a @ b


class _WeightedLinearNLL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, weights, needs: tuple[bool, bool], chunk: int):
        autocast = torch.is_autocast_enabled(hidden.device.type)
        dtype = torch.get_autocast_dtype(hidden.device.type) if autocast else hidden.dtype
        need_hidden, need_weight = needs
        w = weight.to(dtype)
        tile = _tile_fn(hidden.device)
        total = torch.zeros((), device=hidden.device, dtype=torch.float32)
        grad_hidden = torch.empty(hidden.shape, device=hidden.device, dtype=dtype) if need_hidden else None
        grad_weight = (
            torch.zeros(weight.shape, device=weight.device, dtype=torch.float32) if need_weight else None
        )
        for start in range(0, hidden.shape[0], chunk):
            end = start + chunk
            h = hidden[start:end].to(dtype)
            nll, grad = tile(h @ w.t(), targets[start:end], weights[start:end])
            total += (nll * weights[start:end]).sum()
            if need_hidden:
                torch.mm(grad, w, out=grad_hidden[start:end])
            if need_weight:
                _accumulate_fp32(grad_weight, grad.t(), h)
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.dtypes = (hidden.dtype, weight.dtype)
        return total

    @staticmethod
    def backward(ctx, grad_total):
        grad_hidden, grad_weight = ctx.saved_tensors
        hidden_dtype, weight_dtype = ctx.dtypes
        return (
            None if grad_hidden is None else (grad_hidden * grad_total).to(hidden_dtype),
            None if grad_weight is None else (grad_weight * grad_total).to(weight_dtype),
            None,
            None,
            None,
            None,
        )


def weighted_lm_head_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor,
    chunk: int = CHUNK_TOKENS,
) -> torch.Tensor:
    """``Σ_t weights_t · (−log softmax(hidden_t · weightᵀ)[targets_t])`` as a differentiable fp32 scalar.

    Args:
        hidden: ``(n, H)`` hidden states of the scored positions (the ones predicting ``targets``).
        weight: the LM head's ``(V, H)`` weight (tied embeddings work: the gradient goes to the shared tensor).
        targets: ``(n,)`` next-token ids, each in ``[0, V)``.
        weights: ``(n,)`` per-token loss weights (divide by the token count outside for a mean).
        chunk: tokens per logits chunk.

    Returns:
        The weighted sum of the per-token negative log-likelihoods. Under autocast the matmuls run in the
        autocast dtype; the log-sum-exp is always fp32.

    Raises:
        ValueError: mismatched lengths, or a target outside the vocabulary (checked for CPU targets
            only: on a GPU the check would read the ids back, a sync per batch).
    """
    n = hidden.shape[0]
    if targets.shape != (n,) or weights.shape != (n,) or hidden.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"weighted_lm_head_loss: hidden {tuple(hidden.shape)}, weight {tuple(weight.shape)}, "
            f"targets {tuple(targets.shape)} and weights {tuple(weights.shape)} do not match"
        )
    if (
        n
        and targets.device.type == "cpu"
        and not 0 <= int(targets.min()) <= int(targets.max()) < weight.shape[0]
    ):
        raise ValueError(
            f"weighted_lm_head_loss: a target id is outside the vocabulary [0, {weight.shape[0]})"
        )
    grad_mode = torch.is_grad_enabled()
    needs = (grad_mode and hidden.requires_grad, grad_mode and weight.requires_grad)
    return _WeightedLinearNLL.apply(hidden, weight, targets, weights.float(), needs, chunk)


def add_weighted_lm_head(model) -> None:
    """Patch ``model`` (a transformers causal LM) so that
    ``model(..., lm_positions=p, lm_targets=t, lm_weights=w)`` returns :func:`weighted_lm_head_loss` of the
    hidden states at flat positions ``p`` (indices into ``(batch · seq_len)``), never building full logits.

    The call goes through ``model`` itself, so DDP / DeepSpeed / PEFT wrappers around it still see a
    forward (their gradient hooks fire); without ``lm_positions`` the original forward runs. Patch before
    wrapping with PEFT (or patch ``get_base_model()``).
    """
    import functools
    import types

    original = model.forward

    @functools.wraps(type(model).forward)
    def forward(self, *args, lm_positions=None, lm_targets=None, lm_weights=None, **kwargs):
        if lm_positions is None:
            return original(*args, **kwargs)
        kwargs.pop("labels", None)
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state
        head = self.get_output_embeddings()
        scored = hidden.reshape(-1, hidden.shape[-1]).index_select(0, lm_positions.to(hidden.device))
        if zero3_partitioned(head.weight):
            return head_module_loss(head, scored, lm_targets, lm_weights)
        return weighted_lm_head_loss(scored.to(head.weight.device), head.weight, lm_targets, lm_weights)

    model.forward = types.MethodType(forward, model)


def zero3_partitioned(weight: torch.Tensor) -> bool:
    """True for a parameter DeepSpeed ZeRO-3 shards across processes (it carries a ``ds_id``): its full
    value exists only inside its own module's forward, where ZeRO-3's hooks gather it."""
    return hasattr(weight, "ds_id")


def head_module_loss(head, hidden: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The same weighted sum as :func:`weighted_lm_head_loss`, through the head module's own forward
    (ZeRO-3 gathers its sharded weight there, and its backward hooks reduce the weight's gradient):
    the scored positions' full ``(n, V)`` logits are built at once, the price of sharding the head."""
    logits = head(hidden)
    nll = torch.nn.functional.cross_entropy(logits.float(), targets.to(logits.device), reduction="none")
    return (nll * weights.to(nll.device).float()).sum()

