"""TRL's fused LM head on CPU: project only the positions that carry a label, as TRL does on Triton devices.

TRL (1.16) computes GRPO's per-token log-probs and entropies through a chunked LM head
(``trl.trainer.utils.add_fused_lm_head``). On devices with Triton it projects only the labelled positions (the
completion); elsewhere it projects every position, prompt and padding included, so that compiled backends
(Neuron) see one tile shape. A CPU compiles nothing, and there the full projection is most of a GRPO update:
with the demo's toy prompts (~110 tokens) ahead of ~30 completion tokens, one update of 128 rollouts of the demo
student took 5.9 s projecting every position and 1.7 s compact (one loaded CPU core), with identical
log-probs and entropies and gradients within 1e-8 (``tests/unit/train/test_fused_head.py``).

:func:`compact_cpu_lm_head` makes TRL take its compact path on CPU too. It changes which positions TRL's own
kernel projects, not the kernel; CUDA/XPU keep TRL's decision.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)
MARK = "_agentark_compact_cpu"


def compact_cpu_lm_head() -> bool:
    """Have TRL's fused LM head project only labelled positions on CPU as well (idempotent).

    Returns:
        Whether TRL now compacts on CPU (False: this TRL has no fused LM head to adjust).
    """
    import trl.trainer.utils as trl_utils

    decide = getattr(trl_utils, "_use_triton", None)
    if decide is None or not hasattr(trl_utils, "add_fused_lm_head"):
        logger.debug("TRL has no fused LM head to compact on CPU")
        return False
    if getattr(decide, MARK, False):
        return True

    def compact(device) -> bool:
        return device.type == "cpu" or decide(device)

    setattr(compact, MARK, True)
    trl_utils._use_triton = compact
    return True
