"""Training-throughput helpers shared by SFT and the PRM (paper §3.3): variable-length attention for
padding-free batches and the model-loading keyword arguments the speed options translate to.

Padding-free batches put every example of a micro-batch into one row (``position_ids`` restart at 0
per example, ``cu_seq_lens_q`` marks the boundaries). Plain ``sdpa`` then needs a block-diagonal
mask over the whole row (attention cost grows with the square of the *row*), so on CUDA the
``"varlen"`` attention below attends only within each example (FlashAttention-2 forward, cuDNN or
FlashAttention-2 backward: :mod:`agentark_core.train.varlen_attention`).

Example:
    >>> kwargs = model_kwargs("varlen", "bfloat16")   # doctest: +SKIP
    >>> AutoModelForCausalLM.from_pretrained(path, **kwargs)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

ATTN_IMPLEMENTATIONS = ("auto", "sdpa", "eager", "flex_attention", "varlen")
# PyTorch reads its allocator settings from either variable (the first is the older, CUDA-only name)
ALLOC_CONF_VARS = ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF")
MODEL_DTYPES = ("float32", "bfloat16")
# torch.compile modes (None = "default"); the max-autotune ones benchmark GEMM/kernel choices at compile time
COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def prepare_training_process() -> None:
    """The process-wide settings training wants, made where training starts (the trainer builders
    call it), never by a config's constructor: building a config, e.g. to validate a recipe before
    any stage runs, changes nothing in the process."""
    prefer_expandable_segments()
    readable_matmul_precision()


def prefer_expandable_segments() -> bool:
    """Let CUDA's caching allocator grow segments in place (``expandable_segments:True``) for this process.

    Padding-free batches change their shapes every step; with fixed-size segments the freed blocks
    fragment and large micro-batches run out of memory with gigabytes reserved but unusable (PRM,
    32 traces per batch, H100 80 GB: out of memory at 65 GiB allocated + 12 GiB reserved-unused; with
    expandable segments it peaks at 66.6 GiB and trains). Before CUDA starts the environment variable
    does it (child processes inherit it); once CUDA has started (a ``TrainingArguments`` starts it when
    built on a GPU machine) torch's allocator-settings call applies it to the segments made from then
    on. A setting the user made is left alone.

    Returns:
        Whether the setting was made (False: no CUDA, the user configured the allocator, or this torch
        cannot change the allocator of a started CUDA).
    """
    import torch

    if not torch.cuda.is_available() or any(var in os.environ for var in ALLOC_CONF_VARS):
        return False
    setting = "expandable_segments:True"
    if torch.cuda.is_initialized():
        change = getattr(torch._C, "_accelerator_setAllocatorSettings", None)
        if change is None:
            logger.info("CUDA already started and this torch cannot change its allocator: no expandable segments")
            return False
        change(setting)
    os.environ[ALLOC_CONF_VARS[0]] = setting
    return True


def varlen_attention_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """Causal attention over the examples of a (padding-free) batch (:mod:`.varlen_attention`).

    Args:
        module: the attention layer (unused beyond the transformers signature).
        query: ``(batch, heads, seq_len, head_dim)``; key/value ``(batch, kv_heads, seq_len, head_dim)``.
        attention_mask: ignored (no mask is built for this implementation; right padding is harmless
            under causal attention).
        dropout: must be 0 (training here uses none).
        scaling: softmax scale.
        **kwargs: ``cu_seq_lens_q`` (int32 ``(n_examples + 1,)``) and ``max_length_q`` from a padding-free
            collator; without them every row is one sequence.

    Returns:
        ``(attn_output (batch, seq_len, heads, head_dim), None)`` as transformers expects.
    """
    import torch

    from agentark_core.train.varlen_attention import varlen_causal_attention

    if dropout:
        raise ValueError("varlen attention does not support attention dropout")
    batch, heads, seq_len, head_dim = query.shape
    cu_seq = kwargs.get("cu_seq_lens_q")
    max_len = kwargs.get("max_length_q")
    if cu_seq is None:
        cu_seq = torch.arange(0, (batch + 1) * seq_len, seq_len, dtype=torch.int32, device=query.device)
        max_len = seq_len
    dtype = query.dtype if query.dtype in (torch.bfloat16, torch.float16) else torch.bfloat16
    q, k, v = (
        t.transpose(1, 2).reshape(batch * seq_len, t.shape[1], head_dim).to(dtype)
        for t in (query, key, value)
    )
    cu_seq = cu_seq.to(device=query.device, dtype=torch.int32)
    out = varlen_causal_attention(q, k, v, cu_seq, int(max_len), scale=scaling)
    return out.reshape(batch, seq_len, heads, head_dim).to(query.dtype), None


def register_varlen_attention() -> None:
    """Make ``attn_implementation="varlen"`` available to transformers models (idempotent)."""
    import torch
    from transformers import AttentionInterface

    from agentark_core.train.varlen_attention import backward_kernel

    # the backward kernel is chosen before any compile traces the attention, and a bad or unrunnable
    # choice (cudnn without the package or before Hopper) fails now, not at the first backward
    backward_kernel(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    AttentionInterface.register("varlen", varlen_attention_forward)


def model_kwargs(attn_implementation: str, dtype: str, padding_free: bool = False) -> dict:
    """``from_pretrained`` keyword arguments for an attention implementation and a weight dtype.

    Args:
        attn_implementation: one of :data:`ATTN_IMPLEMENTATIONS` (``"varlen"`` needs CUDA); ``"auto"`` =
            ``"varlen"`` for padding-free batches on CUDA, else ``"sdpa"``.
        dtype: one of :data:`MODEL_DTYPES`; ``"float32"`` keeps fp32 master weights (bf16 comes from
            autocast), ``"bfloat16"`` trains bf16 weights directly.

    Returns:
        ``{"attn_implementation": ..., "dtype": torch.dtype}``.
    """
    import torch

    check_speed_options(attn_implementation, dtype)
    if attn_implementation == "auto":
        attn_implementation = "varlen" if padding_free and torch.cuda.is_available() else "sdpa"
    if attn_implementation == "varlen":
        register_varlen_attention()
    return {"attn_implementation": attn_implementation, "dtype": getattr(torch, dtype)}


def check_speed_options(attn_implementation: str, dtype: str) -> None:
    """Fail early, naming the valid choices, on an unknown attention implementation or dtype."""
    if attn_implementation not in ATTN_IMPLEMENTATIONS:
        raise ValueError(
            f"attn_implementation {attn_implementation!r} unknown; valid: {list(ATTN_IMPLEMENTATIONS)}"
        )
    if dtype not in MODEL_DTYPES:
        raise ValueError(f"model dtype {dtype!r} unknown; valid: {list(MODEL_DTYPES)}")


def readable_matmul_precision() -> None:
    """Restate a TF32 choice that transformers made through torch's generic ``torch.backends.fp32_precision``
    (its TrainingArguments do so under ``torch_compile`` or ``tf32``) through ``set_float32_matmul_precision``,
    which sets the same choice for every backend. Left as it is, ``torch.get_float32_matmul_precision()``
    raises ("mix of the legacy and new APIs"), and inductor reads it when it autotunes GEMMs
    (``torch_compile_mode="max-autotune*"`` failed with an InductorError on an H100)."""
    import torch

    try:
        torch.get_float32_matmul_precision()
    except RuntimeError:
        torch.set_float32_matmul_precision("high" if torch.backends.fp32_precision == "tf32" else "highest")


def check_compile_mode(mode: str | None) -> None:
    """Fail early, naming the valid choices, on an unknown ``torch.compile`` mode."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"torch_compile_mode {mode!r} unknown; valid: {list(COMPILE_MODES)}")


def transformer_blocks(model):
    """The model's stack of transformer blocks: its longest ``nn.ModuleList``.

    Raises:
        ValueError: the model has no ``ModuleList``.
    """
    from torch import nn

    stacks = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    if not stacks:
        raise ValueError(f"cannot find the transformer blocks of {type(model).__name__}")
    return max(stacks, key=len)


def compile_blocks(model, dynamic: bool = True, mode: str | None = None):
    """``torch.compile`` each transformer block in place (regional compilation).

    The blocks share one code object, so one compilation serves all of them; ``dynamic=True``
    compiles for symbolic sequence lengths up front, so variable-length (padding-free) batches do
    not recompile. Compared with compiling the whole model, start-up is one block's compile
    (seconds, not minutes) and the graph never spans the embedding or the LM head. Parameter
    names, and so checkpoints, are unchanged (``nn.Module.compile`` wraps the call, not the module).
    ``mode`` is ``torch.compile``'s (:data:`COMPILE_MODES`).
    """
    check_compile_mode(mode)
    for block in transformer_blocks(model):
        block.compile(dynamic=dynamic, mode=mode)
    return model


def apply_kernels(
    model, *, liger: bool = False, compile_model: bool = False, compile_mode: str | None = None
):
    """Speed up a transformers model in place: Liger's Triton kernels and/or ``torch.compile``.

    Liger (CUDA only) swaps in its RMSNorm, SwiGLU and RoPE kernels; the LM-head losses are left
    alone (a backbone has none, and patching them would change every causal-LM class of the
    process). ``compile_model`` compiles each transformer block (:func:`compile_blocks`, in ``compile_mode``).

    Raises:
        ValueError: ``liger`` without a CUDA device.
    """
    import torch

    if liger:
        if not torch.cuda.is_available():
            raise ValueError("use_liger_kernel needs a CUDA device (Liger's kernels are Triton GPU kernels)")
        from liger_kernel.transformers import _apply_liger_kernel_to_instance

        _apply_liger_kernel_to_instance(model=model, cross_entropy=False, fused_linear_cross_entropy=False)
    if compile_model:
        compile_blocks(model, mode=compile_mode)
    return model
