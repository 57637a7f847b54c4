"""The speed variants the training benchmarks compare (bench_train_mfu, profile_train_step): each a set
of options over the same SFT or PRM training loop, from the plain HF baseline to our fastest settings."""

SFT_VARIANTS = {  # name -> build_trainer options (None = vanilla transformers Trainer)
    "plain_hf": None,
    "ours_padded": {"padding_free": False, "attn_implementation": "sdpa", "batch": 8},
    "ours_pf": {"padding_free": True, "batch": 8},
    "ours_pf_bf16": {"padding_free": True, "model_dtype": "bfloat16", "batch": 8},
    "ours_pf_b16": {"padding_free": True, "batch": 16},
    "ours_pf_bf16_b16": {"padding_free": True, "model_dtype": "bfloat16", "batch": 16},
    "ours_pf_bf16_b32": {"padding_free": True, "model_dtype": "bfloat16", "batch": 32},
    "ours_pf_bf16_b16_liger": {"padding_free": True, "model_dtype": "bfloat16", "batch": 16, "liger": True},
    "ours_pf_b16_liger": {"padding_free": True, "batch": 16, "liger": True},
    "ours_pf_bf16_b32_liger": {"padding_free": True, "model_dtype": "bfloat16", "batch": 32, "liger": True},
    "ours_pf_bf16_b48_liger": {"padding_free": True, "model_dtype": "bfloat16", "batch": 48, "liger": True},
    "ours_pf_bf16_b16_liger_nonorm": {  # liger's SwiGLU + RoPE, HF's RMSNorm (liger's costs ~1 ms host time a call)
        "padding_free": True,
        "model_dtype": "bfloat16",
        "batch": 16,
        "liger": True,
        "liger_kernel_config": {"rms_norm": False},
    },
    "ours_pf_bf16_b32_liger_nonorm": {
        "padding_free": True,
        "model_dtype": "bfloat16",
        "batch": 32,
        "liger": True,
        "liger_kernel_config": {"rms_norm": False},
    },
    "ours_pf_bf16_b32_liger_nonorm_compile": {  # compile fuses the norms, Liger keeps SwiGLU/RoPE
        "padding_free": True,
        "model_dtype": "bfloat16",
        "batch": 32,
        "liger": True,
        "torch_compile": True,
        "liger_kernel_config": {"rms_norm": False},
    },
    "ours_pf_bf16_b32_compile": {
        "padding_free": True,
        "model_dtype": "bfloat16",
        "batch": 32,
        "torch_compile": True,
    },
    "ours_pf_bf16_b48_compile": {
        "padding_free": True,
        "model_dtype": "bfloat16",
        "batch": 48,
        "torch_compile": True,
    },
    "ours_pf_bf16_b16_compile": {
        "padding_free": True,
        "model_dtype": "bfloat16",
        "batch": 16,
        "torch_compile": True,
    },
    "ours_pf_bf16_b16_liger_compile": {
        "padding_free": True,
        "model_dtype": "bfloat16",
        "batch": 16,
        "liger": True,
        "torch_compile": True,
    },
}
PRM_VARIANTS = {  # name -> PRMConfig options; "plain" = padded batches + sdpa (the loop as first written)
    "plain": {"padding_free": False, "attn_implementation": "sdpa", "traces_per_batch": 8},
    "ours_pf": {"padding_free": True, "traces_per_batch": 8},
    "ours_pf_bf16": {"padding_free": True, "model_dtype": "bfloat16", "traces_per_batch": 8},
    "ours_pf_b16": {"padding_free": True, "traces_per_batch": 16},
    "ours_pf_bf16_b16": {"padding_free": True, "model_dtype": "bfloat16", "traces_per_batch": 16},
    "ours_pf_bf16_b32": {"padding_free": True, "model_dtype": "bfloat16", "traces_per_batch": 32},
    "ours_pf_bf16_b16_liger": {
        "padding_free": True,
        "model_dtype": "bfloat16",
        "traces_per_batch": 16,
        "use_liger_kernel": True,
    },
    "ours_pf_bf16_b16_compile": {
        "padding_free": True,
        "model_dtype": "bfloat16",
        "traces_per_batch": 16,
        "torch_compile": True,
    },
}
