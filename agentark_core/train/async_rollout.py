"""GRPO rollouts off the step's critical path (issue 18 item 2): ``async_rollouts: true``.

With TRL's synchronous loop every step waits for its rollout, then scores and updates; the vLLM engine idles
while the policy trains and the trainer idles while the engine samples. Here the next generation batch's
completions are sampled on the vLLM engine (TRL's server on another GPU, or the colocated engine) in a
background thread while the trainer scores and updates on the current one:

1. at a generation boundary the trainer takes the completions prefetched for this batch (waiting only for
   what is left of them; the first rollout is sampled on the spot);
2. with the engine idle, the policy's latest weights are pushed into it (TRL's ``sync_weights``);
3. the next generation batch (read ahead from the train dataloader, :class:`LookaheadLoader`) is submitted
   to the engine, and the step goes on to rewards, reference log-probs and the update.

So the rollout a step trains on was sampled by the policy one update older (one-step off-policy, as in
TRL's experimental async GRPO and verl's one-step-off-policy recipe), and TRL's truncated importance
sampling against the engine's sampling log-probs (``vllm_importance_sampling_correction``, on by default)
corrects for it. Evaluation (``heldout_prompts``) waits for the prefetch, syncs and samples synchronously;
the prefetched batch is kept. Nothing is prefetched past ``max_steps``, and a prefetch still running when
training ends is waited for, so no rollout outlives the trainer.

Scope: one training process (the engine thread does not take part in collectives), vLLM rollouts, no sleep
mode (the engine works while the policy trains). The time a step waits for its rollout is logged as
``rollout/wait_s`` (:data:`WAIT_METRIC`).

Measured (``bench/bench_grpo_step.py``, Qwen3-0.6B shape, 8 prompts x G=8, 256 tokens, H200): the gain needs
the engine outside the trainer's process. With TRL's server on a second GPU the step is 1.53x faster than
synchronous server rollouts (2.24 vs 3.43 s). With the colocated engine the step waits only ~5% for its rollout
but is no faster than the synchronous one (0.94-1.06x): the engine's Python loop and the trainer's scoring
share the GIL and the GPU, so scoring slows by about the rollout's time.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from trl import GRPOTrainer

logger = logging.getLogger(__name__)

WAIT_METRIC = "rollout/wait_s"
# how many yielded batches the loader remembers to find the current one (a generation batch repeats
# steps_per_generation x num_iterations times; Trainer reads gradient_accumulation_steps batches ahead)
_REMEMBERED = 256


class LookaheadLoader:
    """The trainer's train dataloader, able to hand out a batch before the loop reaches it.

    Iterating yields the wrapped loader's batches unchanged; :meth:`ahead` returns the batch ``offset``
    positions after a batch already yielded in this pass (reading the wrapped loader early and keeping what
    it read for the loop), or None past the end of the pass. Everything else (``len``, ``sampler``,
    ``set_epoch``, …) is the wrapped loader's.
    """

    def __init__(self, loader) -> None:
        self.loader = loader
        self._iterator = None
        self._read_early: deque = deque()
        self._yielded: deque = deque(maxlen=_REMEMBERED)  # (position, batch)
        self._position = 0

    def __iter__(self):
        self._iterator = iter(self.loader)
        self._read_early.clear()
        self._yielded.clear()
        self._position = 0
        while True:
            if self._read_early:
                batch = self._read_early.popleft()
            else:
                try:
                    batch = next(self._iterator)
                except StopIteration:
                    return
            self._yielded.append((self._position, batch))
            self._position += 1
            yield batch

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str):
        return getattr(self.loader, name)

    def ahead(self, batch: Any, offset: int) -> Any | None:
        """The batch ``offset`` (>= 1) positions after ``batch`` in this pass; None when the pass ends first.

        Raises:
            ValueError: ``batch`` was not yielded by this loader in this pass, or ``offset`` < 1.
        """
        if offset < 1:
            raise ValueError(f"offset must be >= 1, got {offset}")
        found = [position for position, seen in self._yielded if seen is batch]
        if not found:
            raise ValueError("LookaheadLoader.ahead: the batch was not yielded by this loader in this pass")
        beyond = found[-1] + offset - self._position  # 0 = the next batch the loop will get
        if beyond < 0:
            return next(seen for position, seen in self._yielded if position == found[-1] + offset)
        while len(self._read_early) <= beyond:
            try:
                self._read_early.append(next(self._iterator))
            except StopIteration:
                return None
        return self._read_early[beyond]


def rollout_key(prompt_ids: list[list[int]], num_generations: int) -> tuple:
    """What identifies one rollout request: its prompts' token ids and the group size."""
    return tuple(tuple(ids) for ids in prompt_ids), num_generations


class AsyncRolloutGRPOTrainer(GRPOTrainer):
    """TRL's ``GRPOTrainer`` whose vLLM rollouts are sampled one generation batch ahead (module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        config = kwargs["args"]
        in_child_process = config.async_engine_process
        if in_child_process:  # TRL builds no in-process engine: ours starts below
            config.use_vllm = False
        try:
            super().__init__(*args, **kwargs)
        finally:
            if in_child_process:
                config.use_vllm = True
        if in_child_process:
            self._start_engine_process()
        self.check_async_scope()
        self._engine_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout")
        self._pending: tuple[tuple, Future] | None = None
        self._upcoming: list | None = None
        self._loader: LookaheadLoader | None = None

    def _start_engine_process(self) -> None:
        """The rollout engine in a child process on this GPU (:mod:`agentark_core.train.rollout_process`),
        with TRL's vLLM branches (importance sampling against its log-probs) on."""
        from agentark_core.train.rollout_process import ProcessRolloutEngine

        sampling = {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k, "min_p": self.min_p,
                    "repetition_penalty": self.repetition_penalty,
                    "max_completion_length": self.max_completion_length}  # fmt: skip
        self.use_vllm, self.vllm_mode, self._last_loaded_step = True, "colocate", -1
        self.vllm_generation = ProcessRolloutEngine(self.model, self.args, sampling)

    def check_async_scope(self) -> None:
        """Raise ValueError unless the rollouts run on vLLM (``self.vllm_generation``) in one process."""
        if not self.use_vllm:
            raise ValueError("async_rollouts needs use_vllm: true (rollouts on a vLLM engine)")
        if self.accelerator.num_processes > 1:
            raise ValueError(f"async_rollouts runs in one training process, this launch has "
                             f"{self.accelerator.num_processes}; set async_rollouts: false for multi-GPU training")

    def get_train_dataloader(self):
        self._loader = LookaheadLoader(super().get_train_dataloader())
        return self._loader

    def _prepare_inputs(self, generation_batch):
        generate_every = self.args.steps_per_generation * self.num_iterations
        if self.model.training and (self._step % generate_every == 0 or self._buffered_inputs is None):
            self._upcoming = self._next_generation_batch(generation_batch, generate_every)
        return super()._prepare_inputs(generation_batch)

    def _next_generation_batch(self, batch, generate_every: int) -> list | None:
        """The generation batch after ``batch``, or None when it would start past ``max_steps`` or the pass."""
        steps_until = generate_every // self.args.gradient_accumulation_steps
        if self.state.max_steps > 0 and self.state.global_step + steps_until >= self.state.max_steps:
            return None
        if self._loader is None:
            return None
        try:
            return self._loader.ahead(batch, generate_every)
        except ValueError:  # the loop reads another loader (e.g. Trainer's skip_first_batches on resume)
            logger.warning("async_rollouts: this batch did not come from the read-ahead loader; no prefetch")
            return None

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        if images is not None or multimodal_fields:
            raise ValueError("async_rollouts handles text prompts only")
        training = self.model.training
        key = rollout_key(prompt_ids, num_generations)
        start = time.perf_counter()
        result = self._take_prefetched(key, training)
        self._sync_engine()
        if result is None:
            result = self._sample(prompt_ids, num_generations)
        if training:
            self._metrics["train"][WAIT_METRIC].append(time.perf_counter() - start)
            self._prefetch(num_generations)
        return result

    def _take_prefetched(self, key: tuple, training: bool):
        """The prefetched rollout for ``key`` (waiting for it), else None; any other prefetch is waited for
        (the engine must be idle for a weight sync) and kept for a later evaluation-free step, or dropped when
        a training step asked for different prompts."""
        if self._pending is None:
            return None
        pending_key, future = self._pending
        result = future.result()
        if pending_key == key:
            self._pending = None
            return result
        if training:
            logger.warning("async_rollouts: the prefetched rollout was for other prompts; sampling this one now")
            self._pending = None
        return None

    def _sync_engine(self) -> None:
        """Push the policy's weights into the (idle) engine when they changed since the last push."""
        if self.state.global_step != self._last_loaded_step:
            self.vllm_generation.sync_weights()
            self._last_loaded_step = self.state.global_step

    def _prefetch(self, num_generations: int) -> None:
        """Submit the next generation batch to the engine thread (with the weights just synced)."""
        upcoming, self._upcoming = self._upcoming, None
        if upcoming is None:
            return
        prompt_ids, images, _ = self._tokenize_prompts([row["prompt"] for row in upcoming])
        if images is not None:
            return
        key = rollout_key(prompt_ids, num_generations)
        self._pending = (key, self._engine_thread.submit(self._sample, prompt_ids, num_generations))

    def _sample(self, prompt_ids: list[list[int]], num_generations: int) -> tuple[list, list]:
        """One vLLM rollout: (completion ids, the sampled tokens' log-probs), as TRL's vLLM branch returns."""
        _, completion_ids, logprobs, _ = self.vllm_generation.generate(
            prompts=prompt_ids, images=None, num_generations=num_generations
        )
        return completion_ids, [[entry[0] for entry in sequence] for sequence in logprobs]

    def train(self, *args, **kwargs):
        try:
            return super().train(*args, **kwargs)
        finally:
            self._drain()

    def _drain(self) -> None:
        """Wait for a prefetch still running (its rollout is not used) so no engine work outlives training."""
        if self._pending is not None:
            _, future = self._pending
            self._pending = None
            try:
                future.result()
            except Exception:  # training is over: log it rather than hide an error raised by training itself
                logger.exception("async_rollouts: the last prefetched rollout failed")
