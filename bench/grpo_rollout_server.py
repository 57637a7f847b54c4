"""The GRPO step bench's server variants (``bench_grpo_step.py --rollout vllm-server,vllm-server-async``):
TRL's vLLM server, i.e. ``vllm serve`` with vLLM's NCCL weight-transfer engine as ``trl vllm-serve`` builds
it (``trl.scripts.vllm_serve.build_command``), on a GPU of its own, and the trainer's settings to use it.
"""

from __future__ import annotations

from pathlib import Path

from agentark_core.train.launch import free_port
from bench.bench_openai_serve_gpu import Server


def start_rollout_server(model: str, gpu: int, memory_share: float, max_model_len: int, log_dir: str) -> Server:
    """Start the server for ``model`` on GPU ``gpu`` (``CUDA_VISIBLE_DEVICES``) and wait until it is healthy.

    Raises:
        RuntimeError: the server exited or was not healthy within 10 minutes (its log's tail shown).
    """
    from trl.scripts.vllm_serve import ScriptArguments, build_command

    port = free_port()
    command = build_command(ScriptArguments(model=model, host="127.0.0.1", port=port,
                                            gpu_memory_utilization=memory_share, max_model_len=max_model_len))  # fmt: skip
    server = Server(command, port, Path(log_dir) / "rollout-server.log", env={"CUDA_VISIBLE_DEVICES": str(gpu)})
    seconds = server.start(timeout_s=600)
    print(f"rollout server on GPU {gpu} healthy after {seconds:.0f} s", flush=True)
    return server


def server_settings(server: Server) -> dict:
    """GRPO config fields that send the rollouts to ``server`` (its own NCCL rendezvous port)."""
    return {"use_vllm": True, "vllm_mode": "server", "vllm_server_base_url": server.root,
            "vllm_group_port": free_port()}  # fmt: skip
