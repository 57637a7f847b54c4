"""A vLLM rollout engine whose engine core runs in a child process on the trainer's GPU (issue 18 item 2).

TRL's colocated engine runs inside the trainer's Python process. Sampling the next batch in a thread while
the policy trains (``async_rollouts``) hid the rollout's wait but made the step no faster (H200: 0.94-1.06x):
the engine's Python loop and the trainer's scoring share one GIL, so scoring slowed by about the rollout's
time. Here vLLM's multiprocess engine core samples in a process of its own on the same GPU, so the two share
only the GPU, whose work in both is small kernels with gaps between them.

The policy's weights reach the engine through CUDA IPC, with no copy through the host: one buffer in the
engine's dtype holds every parameter; the trainer refills it at each sync (a device copy) and asks the
engine's worker (:class:`IPCWeightReceiver`, vLLM's ``worker_extension_cls``) to load it with the model's
own ``load_weights``. The worker opens the buffer's IPC handle once and keeps it.

The engine has the interface of TRL's ``VLLMGeneration`` that :class:`~agentark_core.train.async_rollout.
AsyncRolloutGRPOTrainer` uses (``sync_weights``, ``generate``, ``llm``), so the trainer's importance
sampling against the engine's log-probs is unchanged. CUDA only (IPC); full-weight training (no LoRA
adapters); one training process.

Measured (one H200, ``bench/bench_grpo_step.py --rollout vllm-process-async,hf,vllm,vllm-async``): the step
waits 4.5% of its time for rollouts and is 5.62x the HF ``generate`` step and 1.16x (1.26x in a second run) the
synchronous vLLM step; the PRM and the reference score slower while the engine samples (GPU time-slicing).
``tests/gpu/test_grpo_vllm_gpu.py -k child_process`` passed there (137 s). The child's load of the buffer failed
("invalid device context") once, when three in-process engines of the same process had filled the GPU.
"""

from __future__ import annotations

import base64
import os
import pickle

import torch

LOAD_METHOD = "agentark_load_ipc_weights"


class IPCWeightReceiver:
    """vLLM worker extension: loads the trainer's weights from its shared CUDA buffer.

    Mixed into vLLM's GPU worker (``worker_extension_cls``), so ``self`` is the worker (``self.device``,
    ``self.model_runner.model``). The handle is the trainer's own ``reduce_tensor`` of its buffer, pickled
    by the trainer process of this run (never model or user input).
    """

    def agentark_load_ipc_weights(self, handle_b64: str, gpu_uuid: str, layout: list) -> int:
        """Load every ``(name, offset, numel, shape)`` of ``layout`` from the shared buffer; returns how many."""
        from torch.multiprocessing.reductions import rebuild_cuda_tensor

        buffer = getattr(self, "_agentark_buffer", None)
        if buffer is None:
            rebuild_args = list(pickle.loads(base64.b64decode(handle_b64)))
            rebuild_args[6] = _device_index_of(gpu_uuid)  # the trainer's GPU in this process's numbering
            buffer = rebuild_cuda_tensor(*rebuild_args)
            self._agentark_buffer = buffer
        weights = ((name, buffer[offset:offset + numel].view(shape)) for name, offset, numel, shape in layout)
        self.model_runner.model.load_weights(weights)
        torch.cuda.synchronize()
        return len(layout)


def _device_index_of(gpu_uuid: str) -> int:
    """This process's index of the GPU whose UUID is ``gpu_uuid``.

    Raises:
        RuntimeError: no visible GPU has that UUID (the engine does not see the trainer's GPU).
    """
    for index in range(torch.cuda.device_count()):
        if str(torch.cuda.get_device_properties(index).uuid) == gpu_uuid:
            return index
    raise RuntimeError(f"the rollout engine's process does not see the trainer's GPU {gpu_uuid}")


def _start_engine(model_path: str, args):
    """A vLLM ``LLM`` on ``model_path`` with its engine core in a child process (set for this start only) and
    :class:`IPCWeightReceiver` in its worker; share, context and batch as TRL's colocated engine takes them."""
    from vllm import LLM

    before = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1"  # only this key is restored: vLLM may set others
    try:
        return LLM(
            model=model_path,
            gpu_memory_utilization=args.vllm_gpu_memory_utilization,
            max_model_len=args.vllm_max_model_length,
            max_num_seqs=args.per_device_train_batch_size * args.steps_per_generation,
            max_num_batched_tokens=4096,
            logprobs_mode="processed_logprobs",  # what TRL's importance sampling compares against
            seed=args.seed,
            worker_extension_cls=f"{__name__}.IPCWeightReceiver",
        )
    finally:
        if before is None:
            os.environ.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)
        else:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = before


class ProcessRolloutEngine:
    """A vLLM ``LLM`` whose engine core is a child process on the policy's GPU, fed the policy's weights
    through one shared CUDA buffer.

    Args:
        model: the policy being trained (an HF causal LM on a CUDA device); its folder
            (``model.name_or_path``) starts the engine.
        args: the GRPO config (engine share, context, sampling settings as TRL's colocated engine takes them).
        sampling: TRL's sampling fields (temperature, top_p, top_k, min_p, repetition_penalty,
            max_completion_length) as the trainer resolved them.
    """

    def __init__(self, model, args, sampling: dict) -> None:
        device = next(model.parameters()).device
        if device.type != "cuda":
            raise ValueError("the rollout engine process shares the policy's GPU through CUDA IPC: needs CUDA")
        self.model, self.sampling = model, sampling
        self.generation_kwargs = dict(args.generation_kwargs or {})
        self.llm = _start_engine(model.name_or_path, args)
        self.layout, offset = [], 0
        for name, param in self._named_parameters():
            self.layout.append((name, offset, param.numel(), list(param.shape)))
            offset += param.numel()
        self.buffer = torch.empty(offset, dtype=self.llm.llm_engine.model_config.dtype, device=device)
        from torch.multiprocessing.reductions import reduce_tensor

        _, rebuild_args = reduce_tensor(self.buffer)
        self.handle = base64.b64encode(pickle.dumps(rebuild_args)).decode()
        self.gpu_uuid = str(torch.cuda.get_device_properties(device).uuid)

    def _named_parameters(self):
        return ((name.removeprefix("module."), param) for name, param in self.model.named_parameters())

    @torch.no_grad()
    def sync_weights(self) -> None:
        """Copy the policy's parameters into the shared buffer and have the engine load them."""
        for (_, offset, numel, _), (_, param) in zip(self.layout, self._named_parameters(), strict=True):
            self.buffer[offset:offset + numel].copy_(param.detach().reshape(-1))
        torch.cuda.current_stream().synchronize()  # the engine reads the buffer from another process
        loaded = self.llm.collective_rpc(LOAD_METHOD, args=(self.handle, self.gpu_uuid, self.layout))
        if any(count != len(self.layout) for count in loaded):
            raise RuntimeError(f"the rollout engine loaded {loaded} of {len(self.layout)} tensors")
        self.llm.reset_prefix_cache()

    def generate(self, prompts: list[list[int]], images, num_generations: int, profiler=None) -> tuple:
        """Sample one completion per entry of ``prompts`` (TRL repeats each prompt ``num_generations`` times);
        returns ``(prompt_ids, completion_ids, logprobs, None)`` as TRL's ``VLLMGeneration.generate`` does, one
        ``[logprob]`` per sampled token."""
        from vllm import SamplingParams

        if images is not None:
            raise ValueError("the rollout engine process samples text prompts only")
        s = self.sampling
        params = SamplingParams(n=1, temperature=s["temperature"], top_p=s["top_p"],
                                top_k=-1 if s["top_k"] in (None, 0) else s["top_k"],
                                min_p=0.0 if s["min_p"] is None else s["min_p"],
                                repetition_penalty=s["repetition_penalty"], max_tokens=s["max_completion_length"],
                                logprobs=0, **self.generation_kwargs)  # fmt: skip
        outputs = self.llm.generate([{"prompt_token_ids": ids} for ids in prompts], sampling_params=params,
                                    use_tqdm=False)  # fmt: skip
        completions = [list(out.outputs[0].token_ids) for out in outputs]
        logprobs = [[[entry[token].logprob] for entry, token in zip(out.outputs[0].logprobs, ids)]
                    for out, ids in zip(outputs, completions)]  # fmt: skip
        return prompts, completions, logprobs, None
