"""PPO's rollouts on a vLLM engine in the trainer's process (paper App. B.2 ablation; issue 18).

The engine is built once from the student's folder and shares the policy's GPU (``vllm_gpu_memory_utilization``
of its memory, context ``vllm_max_model_length``). Before every rollout the policy's current parameters
are loaded into the engine's model (vLLM's ``load_weights``, what TRL's colocated GRPO does) and its
prefix cache is dropped, so each rollout samples from the policy being trained. The engine only picks
the tokens: log-probs, values, rewards and the update stay on the policy (:mod:`agentark_core.train.ppo`).
CUDA only: vLLM's CPU build repacks its linear layers, so pushed weights would not reach them.

Example:
    >>> sampler = VLLMSampler("student/", AgentArkPPOConfig(use_vllm=True), torch.device("cuda"))  # doctest: +SKIP
    >>> sequences, mask = sampler.sample(policy.named_parameters(), enc, config, eos_token_id=7)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os

import torch

from agentark_core.train.launch import free_port
from agentark_core.train.rl_common import check_colocated_engine_device, check_vllm_importable

logger = logging.getLogger(__name__)


def single_process_env() -> None:
    """Rank variables for vLLM's ``external_launcher`` executor (the engine runs in this process);
    values a launcher already set are kept."""
    for name, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "localhost")):
        os.environ.setdefault(name, value)
    if "MASTER_PORT" not in os.environ:
        os.environ["MASTER_PORT"] = str(free_port())


class VLLMSampler:
    """A vLLM engine in this process that samples one completion per prompt with the policy's weights."""

    def __init__(self, model_path: str, config, device: torch.device) -> None:
        """Start the engine on ``model_path`` (an HF folder; its weights are replaced before each rollout).

        Args:
            model_path: the student's folder (config, tokenizer, weights of the initial policy).
            config: an :class:`~agentark_core.train.ppo_config.AgentArkPPOConfig` with ``use_vllm``.
            device: the policy's device; anything but CUDA is refused (vLLM's CPU build cannot take
                updated weights: :func:`~agentark_core.train.rl_common.check_colocated_engine_device`).
        """
        check_vllm_importable("PPO")
        check_colocated_engine_device("PPO", device.type == "cuda")
        from vllm import LLM

        single_process_env()
        self.llm = LLM(
            model=model_path,
            gpu_memory_utilization=config.vllm_gpu_memory_utilization,
            max_model_len=config.vllm_max_model_length,
            max_num_seqs=config.batch_size,
            distributed_executor_backend="external_launcher",
            seed=config.seed + int(os.environ["RANK"]),  # under DDP each process samples its own stream
        )
        logger.info("PPO rollouts on vLLM: engine on %s, %.0f%% of its memory, context %s tokens",
                    device, 100 * config.vllm_gpu_memory_utilization, config.vllm_max_model_length)  # fmt: skip

    def model_runner(self):
        """The engine's model runner (in this process: the external launcher keeps the worker here)."""
        return self.llm.llm_engine.model_executor.driver_worker.model_runner

    @torch.no_grad()
    def sync(self, weights) -> None:
        """Load the policy's ``(name, tensor)`` pairs (HF names, e.g. ``policy.named_parameters()`` or, under
        ZeRO-3, :meth:`~agentark_core.train.engine.TrainEngine.full_parameters`; cast to the engine's dtype)
        into the engine's model, as TRL's colocated weight sync does, and drop the engine's prefix cache."""
        dtype = self.llm.llm_engine.model_config.dtype
        self.model_runner().model.load_weights((name, param.detach().to(dtype)) for name, param in weights)
        self.llm.reset_prefix_cache()

    def sample(self, weights, enc: dict, config, eos_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sync the weights, then sample one completion per left-padded prompt.

        Args:
            weights: the policy's current ``(name, tensor)`` pairs (pushed first, :meth:`sync`).
            enc: the tokenizer's batch, ``input_ids`` / ``attention_mask`` ``(batch, prompt_len)``, left-padded.
            config: the PPO config (``temperature``, ``max_completion_length``).
            eos_token_id: fills each completion after its end, as HF ``generate``'s batches read.

        Returns:
            ``(sequences, mask)``: ``(batch, prompt_len + T)`` prompt + completion ids (T the longest
            completion) and the ``(batch, T)`` float mask of the tokens each completion sampled.
        """
        from vllm import SamplingParams

        self.sync(weights)
        params = SamplingParams(  # token ids only: the trainer decodes them, so vLLM need not detokenize
            n=1, temperature=config.temperature, top_p=1.0, top_k=0, max_tokens=config.max_completion_length,
            detokenize=False,
        )
        prompts = [
            {"prompt_token_ids": ids[keep.bool()].tolist()}
            for ids, keep in zip(enc["input_ids"], enc["attention_mask"])
        ]
        outputs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
        completions = [list(out.outputs[0].token_ids) for out in outputs]
        width = max(1, max(len(c) for c in completions))
        ids = torch.full((len(completions), width), eos_token_id, dtype=enc["input_ids"].dtype)
        mask = torch.zeros(len(completions), width)
        for row, tokens in enumerate(completions):
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=ids.dtype)
            mask[row, : len(tokens)] = 1.0
        device = enc["input_ids"].device
        return torch.cat([enc["input_ids"], ids.to(device)], 1), mask.to(device)
