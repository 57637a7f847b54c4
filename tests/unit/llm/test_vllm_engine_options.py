"""The vllm backend's engine options on hosts with NVLink multicast off (no vLLM needed)."""

from __future__ import annotations

import pytest

from agentark_core.llm.vllm_backend import engine_options_for

OFF = {"NCCL_NVLS_ENABLE": "0"}


def test_split_model_on_a_multicast_off_host_turns_the_fusion_off():
    options = engine_options_for(2, {"max_num_seqs": 64}, OFF)
    assert options == {"max_num_seqs": 64, "compilation_config": {"pass_config": {"fuse_allreduce_rms": False}}}


@pytest.mark.parametrize("environ", [{"TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}, OFF])
def test_either_variable_marks_multicast_off(environ):
    assert engine_options_for(4, None, environ)["compilation_config"]["pass_config"] == {"fuse_allreduce_rms": False}


@pytest.mark.parametrize(("tp", "environ"), [(1, OFF), (2, {}), (2, {"NCCL_NVLS_ENABLE": "1"})])
def test_one_gpu_or_multicast_on_leaves_the_options_alone(tp, environ):
    assert engine_options_for(tp, {"seed": 3}, environ) == {"seed": 3}


def test_the_users_compilation_settings_are_kept_and_not_mutated():
    given = {"compilation_config": {"level": 3, "pass_config": {"fuse_norm_quant": True}}}
    options = engine_options_for(2, given, OFF)
    assert options["compilation_config"] == {"level": 3, "pass_config": {"fuse_norm_quant": True,
                                                                         "fuse_allreduce_rms": False}}
    assert given == {"compilation_config": {"level": 3, "pass_config": {"fuse_norm_quant": True}}}
    explicit = {"compilation_config": {"pass_config": {"fuse_allreduce_rms": True}}}
    assert engine_options_for(2, explicit, OFF) == explicit


def test_a_non_dict_compilation_config_is_passed_through():
    assert engine_options_for(2, {"compilation_config": 3}, OFF) == {"compilation_config": 3}
