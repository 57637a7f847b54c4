"""The PRM's likelihood features: how surprised the backbone's own language model is by each step.

A linear head on a step's last hidden state must learn to *check* the step (``a op b = c``: is ``c``
right?), a comparison a causal LM never makes at that token: its prediction of ``c`` lives one token
earlier. Measured in the toy world (bench/bench_prm_toy.py), the toy teacher's own prefix-min token
log-probability separates correct from incorrect steps with AUROC 0.998, yet a PRM trained from the
same teacher with the hidden-state head alone reached 0.73. So the PRM also scores each step from the
backbone's next-token log-probabilities of the step's tokens (the language-model head applied to the
same forward pass's hidden states, so no second model and no second pass), each floored at
:data:`FLOOR`: the mean and min over the step, and the mean and min over the trace up to and including
it (an error early in the trace makes every later step wrong). ``Linear(4, 1)`` turns them into a logit
added to the hidden-state head's. It starts at a quarter of the prefix minimum plus 1, so the untrained
PRM's logits lie in [-4, 1]: at weight 1, a random-init backbone's logits start near -log(vocab), where
sigma and the contrastive loss have no gradient (a tiny model's DDP test then stalled). Probabilities
instead of log-probabilities measured worse in the toy world (held-out AUROC 0.80 vs 0.85): they
flatten every unlikely token to about 0.
Close to the "implicit PRM" idea (Yuan et al. 2024, arXiv 2412.01981: process rewards from token
log-likelihoods), here as features next to a trained head rather than as the whole reward.

Shapes: ``n_tok`` response tokens in a batch (every trace's steps, separators included), ``n`` steps.
"""

from __future__ import annotations

import torch
import torch.utils.checkpoint
from torch import nn

from agentark_core.train import distributed

FEATURES = ("step_mean", "step_min", "prefix_mean", "prefix_min")  # of token log-probabilities
PREFIX_MIN = FEATURES.index("prefix_min")
FLOOR = -20.0


def likelihood_head() -> nn.Linear:
    """``Linear(4, 1)`` over :data:`FEATURES`, starting as ``prefix-min log-probability / 4 + 1`` (0
    weight elsewhere): an untrained PRM already ranks steps by the backbone's surprise, and training
    reweighs the features against the hidden-state head."""
    head = nn.Linear(len(FEATURES), 1, dtype=torch.float32)
    with torch.no_grad():
        head.weight.zero_()
        head.weight[0, PREFIX_MIN] = 0.25
        head.bias.fill_(1.0)
    return head


def token_index(spans: list[tuple[int, int, list[int], list[int]]]) -> dict[str, torch.Tensor]:
    """Where the response tokens and each step's tokens are, for :func:`likelihood_features`.

    Args:
        spans: per trace ``(row, offset, step_starts, step_ends)``: its row in ``input_ids``, the column
            of its first token in that row, and each step's first and last token index within the trace.

    Returns:
        ``token_rows``/``token_cols`` ``(n_tok,)``: every response token (first step's first token to the
        last step's last), trace by trace; ``step_first``/``step_last`` ``(n,)``: each step's first and
        last token as an index into that list; ``trace_first`` ``(n,)``: its trace's first token there.
    """
    rows, cols, first, last, trace_first = [], [], [], [], []
    for row, offset, starts, ends in spans:
        if not ends:
            continue
        base, origin = len(cols), starts[0]
        cols += range(offset + origin, offset + ends[-1] + 1)
        rows += [row] * (ends[-1] + 1 - origin)
        first += [base + s - origin for s in starts]
        last += [base + e - origin for e in ends]
        trace_first += [base] * len(ends)
    as_long = {"dtype": torch.long}
    return {"token_rows": torch.tensor(rows, **as_long), "token_cols": torch.tensor(cols, **as_long),
            "step_first": torch.tensor(first, **as_long), "step_last": torch.tensor(last, **as_long),
            "trace_first": torch.tensor(trace_first, **as_long)}


CHUNK_TOKENS = 1024


def token_logprobs(lm_head: nn.Module, hidden: torch.Tensor, input_ids: torch.Tensor,
                   token_rows: torch.Tensor, token_cols: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """``log p(token | tokens before it)`` ``(n_tok,)`` of the listed tokens, from the hidden state one
    position earlier (a response token is never a row's first token: the prompt precedes it).

    ``chunk`` (default :data:`CHUNK_TOKENS`) tokens at a time, each chunk recomputed in the backward pass
    instead of kept: a real vocabulary's fp32 logits are ``n_tok x vocab`` (8 traces of 512 response tokens
    x 152k: 2.5 GB). A head DeepSpeed ZeRO-3 shards is called as many times on every process (each call
    gathers its weight, a collective, and the processes' batches hold different numbers of tokens): the
    most chunks any process needs, the others calling it on empty chunks.
    """
    from agentark_core.train.lm_head_loss import zero3_partitioned

    chunk = chunk or CHUNK_TOKENS
    states = hidden[token_rows, token_cols - 1]
    targets = input_ids[token_rows, token_cols]
    calls = -(-len(targets) // chunk)
    if zero3_partitioned(lm_head.weight):
        calls = int(distributed.all_max(torch.tensor([max(calls, 1)], device=states.device)).item())
    recompute = torch.is_grad_enabled() and states.requires_grad
    parts = []
    for start in range(0, calls * chunk, chunk):  # past the last token: an empty chunk
        args = (lm_head, states[start : start + chunk], targets[start : start + chunk])
        if recompute:
            parts.append(torch.utils.checkpoint.checkpoint(_chunk_logprobs, *args, use_reentrant=False))
        else:
            parts.append(_chunk_logprobs(*args))
    return torch.cat(parts) if parts else states.new_zeros(0, dtype=torch.float32)


def _chunk_logprobs(lm_head: nn.Module, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = lm_head(states).float()
    return logits.gather(-1, targets[:, None]).squeeze(-1) - logits.logsumexp(-1)


def likelihood_features(logprobs: torch.Tensor, step_first: torch.Tensor, step_last: torch.Tensor,
                        trace_first: torch.Tensor) -> torch.Tensor:
    """:data:`FEATURES` ``(n, 4)`` of every step: means and minima of the response tokens' log-probabilities
    (each floored at :data:`FLOOR`).

    Masks ``(n, n_tok)`` select each step's tokens and its trace's tokens up to the step's last one
    (no data-dependent shapes, so no host sync).
    """
    index = torch.arange(len(logprobs), device=logprobs.device)
    before_end = index[None, :] <= step_last[:, None]
    in_step = (index[None, :] >= step_first[:, None]) & before_end
    in_prefix = (index[None, :] >= trace_first[:, None]) & before_end
    floored = logprobs.clamp(min=FLOOR)

    def mean(mask):
        return torch.where(mask, floored, 0.0).sum(1) / mask.sum(1).clamp(min=1)

    def low(mask):
        return torch.where(mask, floored, 0.0).amin(1)

    return torch.stack([mean(in_step), low(in_step), mean(in_prefix), low(in_prefix)], dim=-1)
