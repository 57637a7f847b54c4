"""Benchmark: where one GRPO step's time goes (paper §3.3.3 PAD), HF ``generate`` rollouts vs vLLM (issue 18).

For each ``--rollout`` variant (``hf``: TRL's HF ``generate``; ``vllm``: TRL's colocated vLLM engine;
``vllm-sleep``: the same with sleep mode; ``*-async``: ``async_rollouts`` on the colocated engine, on a
child-process engine (``vllm-process-async``) or on TRL's server (``vllm-server*``,
``bench/grpo_rollout_server.py``)), in ONE process, on the same prompts and the same saved
random-init student, it builds the trainer exactly as ``train_grpo`` does
(:func:`agentark_core.train.grpo.build_grpo_trainer`, PRMVR reward with a PRM initialised from the
student) and wraps, on the trainer instance:

- ``_generate``: rollout (tokenise prompts + G completions per prompt; with vLLM also the weight sync,
  shown apart as ``of which weight sync``);
- each reward callable (``prm_score``: PRM forward over the steps; ``verifiable``: ``grade()``);
- ``_generate_and_score_completions``: the above + old/reference log-probs + advantages
  (the remainder is reported as ``ref logprobs + advantages``);
- the whole optimiser step, from a callback's ``on_step_begin`` to ``on_step_end``; ``update`` = step −
  generate-and-score (policy forward/backward + optimiser step).

The first rollout cycle includes warm-up; the tables report the mean of the later steps (``--generation-steps
K``: one rollout serves K optimizer steps). Memory per variant: torch's peak allocated / reserved (the colocated
engine allocates through torch in this process unless sleep mode gives it vLLM's own pool), the most device
memory seen in use (``mem_get_info``) and the engine's weights + KV cache. The last lines ESTIMATE what fits
one 80 GB card for Qwen3-1.7B and -8B students, scaled from the measured bytes.

The student: ``qwen3-0.6b`` is Qwen3-0.6B's shape with the toy tokenizer padded to its vocabulary
(``bench_generation_gpu.build_model_folder``); a random model almost never samples EOS, so every completion
is ``--max-completion-length`` tokens on every path.

Issue 18 item 2, the engine in a child process (``vllm-process-async``, ``train/rollout_process.py``), measured in
ONE run on one H200 (2026-11-28; ``--rollout vllm-process-async,hf,vllm,vllm-async``, same setting):

    | part                        | hf     | vllm          | vllm-async    | vllm-process-async |
    | rollout (of which sync)     | 8.708  | 0.982 (0.057) | 0.096 (0.055) | 0.076 (0.039)      |
    | reward: prm_score           | 0.296  | 0.314         | 0.915         | 0.693              |
    | verifiable + ref logps + adv| 0.131  | 0.265         | 0.428         | 0.465              |
    | update (fwd/bwd + optimiser)| 0.383  | 0.408         | 0.411         | 0.458              |
    | step                        | 9.518  | 1.969         | 1.851         | 1.693              |
    | rollout share               | 91.5%  | 49.9%         | 5.2%          | 4.5%               |

The child-process engine meets both goals (5.62x HF, rollout 4.5% <= 30%) and is faster than the synchronous vLLM
step (1.16x; 1.26x in a second run, 1.539 vs 1.935 s), where the in-process engine thread (vllm-async) was not
(1.06x: GIL and GPU shared). What is left of the rollout's cost is GPU time-slicing between the two processes: the
PRM and the reference score slower while the engine samples. Process-engine variants run first: after three
in-process engines had filled 122 of the H200's 140 GiB, the child's load of the shared buffer failed ("invalid
device context"). Memory: the process variant's trainer peaks at 54 GiB allocated, 84 GiB in use with the engine's
28 GiB (share 0.2 of 140 GiB; 16 GiB on an 80 GB card); sync vLLM peaks at 82 GiB in use at share 0.2 (61 GiB at
0.25 with 4 update micro-batches, session 9): policy, reference, PRM and engine fit one 80 GB card for the 0.6B
student. Estimated (session 9): 1.7B fits, 8B does not (ZeRO-3 or LoRA). Session 11: vllm-server-async waited 45%.

Run:
    PYTHONPATH=. python bench/bench_grpo_step.py                                   # CPU smoke, tiny Qwen3, hf
    PYTHONPATH=. python bench/bench_grpo_step.py --model-config qwen3-0.6b --device cuda --prompts 8 \\
        --num-generations 8 --max-completion-length 256 --steps 6 --rollout vllm-process-async,hf,vllm,vllm-async \
        --vllm-gpu-memory-utilization 0.2    # one vLLM engine per variant stays in the process: keep shares small
    ... --rollout vllm,vllm-server,vllm-server-async --server-gpu 1    # 2 GPUs: the server on GPU 1
"""

from __future__ import annotations

import argparse
import functools
import gc
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

from agentark_core.llm.hf_batching import kv_bytes_per_token

QWEN3_06B = {
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151936,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": True,
}
# Qwen3-1.7B / -8B shapes (their config.json files), for the memory estimate only.
LARGER = {
    "Qwen3-1.7B": QWEN3_06B | {"hidden_size": 2048, "intermediate_size": 6144},
    "Qwen3-8B": QWEN3_06B | {"hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
                             "num_attention_heads": 32, "tie_word_embeddings": False},
}  # fmt: skip
GIB = 2**30
VARIANTS = ("hf", "vllm", "vllm-sleep", "vllm-async", "vllm-process-async", "vllm-server", "vllm-server-async")


def build_student(kind: str, path: Path) -> str:
    """Save a random-init student (tiny, or Qwen3-0.6B-shaped with the toy tokenizer) and return its folder.

    Used by the training benches; its qwen3-0.6b tokenizer (512 BPE tokens) is smaller than the embedding
    table, which vLLM refuses: this bench's rollouts use :func:`rollout_student`.
    """
    from transformers import Qwen3Config

    from agentark_core.toy.tiny import make_tiny_model, save_random_init, train_tokenizer

    if kind == "tiny":
        return make_tiny_model(path)
    return save_random_init(path, train_tokenizer(), Qwen3Config(**QWEN3_06B))


def rollout_student(kind: str, path: Path) -> str:
    """A random-init student whose tokenizer's vocabulary is its embedding table (vLLM checks prompt ids).

    ``tiny``: hidden 64, 2 heads of 32 (vLLM's attention kernels want head dims of 32 or more);
    ``qwen3-0.6b``: Qwen3-0.6B's shape with the padded toy tokenizer.
    """
    from agentark_core.toy.tiny import make_tiny_model

    if kind == "tiny":
        return make_tiny_model(path, hidden=64, heads=2, layers=2)
    from bench.bench_generation_gpu import build_model_folder

    build_model_folder(str(path), with_weights=True)
    return str(path)


def timed(fn, name: str, times: dict, sync: bool):
    """Wrap ``fn`` so each call adds its wall time (after a CUDA sync) to ``times[name]``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        if sync:
            torch.cuda.synchronize()
        times[name] += time.perf_counter() - start
        return out

    return wrapper


def make_config(args, out: str, variant: str, server=None):
    from agentark_core.train.grpo_config import AgentArkGRPOConfig

    on_cpu = args.device == "cpu"
    vllm = {}
    if variant.startswith("vllm-server"):
        from bench.grpo_rollout_server import server_settings

        vllm = server_settings(server)
    elif variant != "hf":
        vllm = {"use_vllm": True, "vllm_mode": "colocate", "vllm_enable_sleep_mode": variant == "vllm-sleep",
                "vllm_gpu_memory_utilization": args.vllm_gpu_memory_utilization}  # fmt: skip
    vllm |= {"async_rollouts": variant.endswith("-async"), "async_engine_process": variant == "vllm-process-async"}
    return AgentArkGRPOConfig(
        output_dir=out,
        num_generations=args.num_generations,
        per_device_train_batch_size=args.prompts * args.num_generations // args.grad_accum,
        gradient_accumulation_steps=args.grad_accum,
        # TRL counts steps_per_generation in micro-batches: one rollout of prompts x G x generation_steps
        # serves generation_steps optimizer steps (TRL's generation_batch_size; later steps slightly off-policy)
        steps_per_generation=args.grad_accum * args.generation_steps,
        max_steps=args.steps,
        max_completion_length=args.max_completion_length,
        learning_rate=1e-5,
        beta=0.001,
        bf16=not on_cpu,
        use_cpu=on_cpu,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
        max_prompt_length=256,
        dataloader_pin_memory=False,
        **vllm,
    )


def prompt_rows(n: int) -> list[dict]:
    return [
        {"question_id": f"q{i}", "prompt": f"Tom has {i} apples and buys {i + 3} more. How many apples?",
         "gt": str(2 * i + 3), "task_type": "math", "choices": []}
        for i in range(n)
    ]  # fmt: skip


def run_variant(variant: str, student: str, prm: str, tmp: str, args, server=None) -> dict:
    """Train ``args.steps`` GRPO steps with ``variant``'s rollouts; per-step times, memory, trained bytes.

    Async variants time the rollout without a device sync: the main thread's ``_generate`` is the wait for
    the prefetched rollout (+ weight sync), and a sync would also wait for the colocated engine's kernels."""
    from agentark_core.train.grpo import build_grpo_trainer

    cuda = args.device == "cuda"
    timing_sync = cuda and not variant.endswith("-async")
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        print(f"\n[{variant}] start: {torch.cuda.memory_allocated() / GIB:.2f} GiB still allocated by earlier variants")
    rows = prompt_rows(args.prompts * args.steps)
    out = str(Path(tmp) / f"out-{variant}")
    trainer, _ = build_grpo_trainer(student, rows, out, make_config(args, out, variant, server), prm)
    per_step, times, seen = [], defaultdict(float), {"device_used": 0}
    trainer._generate = timed(trainer._generate, "rollout", times, timing_sync)
    trainer._generate_and_score_completions = timed(
        trainer._generate_and_score_completions, "generate_and_score", times, timing_sync
    )
    trainer.reward_funcs = [timed(f, f"reward: {f.__name__}", times, timing_sync) for f in trainer.reward_funcs]
    engine = getattr(trainer, "vllm_generation", None)
    if engine is not None:
        engine.sync_weights = timed(engine.sync_weights, "weight sync", times, timing_sync)
    trainer.add_callback(step_timer_class()(times, per_step, seen, cuda))
    trainer.train()
    # the first rollout cycle carries the warm-up; later cycles are averaged whole (one rollout per cycle)
    warm = per_step[args.generation_steps:]
    result = {"variant": variant, "steps": warm or per_step, "memory": memory_stats(cuda, seen)}
    result["trained_bytes"] = trained_bytes(trainer)
    if engine is not None:
        result["engine"] = engine_stats(engine, args)
    del trainer, engine
    gc.collect()
    return result


def step_timer_class():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Per optimiser step: reset the wrapped timers at its start, store them with the step time at its
        end, and note the device memory in use then."""

        def __init__(self, times: dict, per_step: list, seen: dict, sync: bool) -> None:
            self.times, self.per_step, self.seen, self.sync, self.start = times, per_step, seen, sync, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.times.clear()
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self.sync:
                torch.cuda.synchronize()
                free, total = torch.cuda.mem_get_info()
                self.seen["device_used"] = max(self.seen["device_used"], total - free)
            self.per_step.append(dict(self.times, step=time.perf_counter() - self.start))

    return StepTimer


def memory_stats(cuda: bool, seen: dict) -> dict:
    if not cuda:
        return {}
    return {"peak_allocated": torch.cuda.max_memory_allocated(), "peak_reserved": torch.cuda.max_memory_reserved(),
            "device_used": seen["device_used"], "total": torch.cuda.mem_get_info()[1]}  # fmt: skip


def trained_bytes(trainer) -> int:
    """Bytes that scale with the parameter count: policy weights + grads + optimiser state, reference, PRM."""

    def size(tensors) -> int:
        return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))

    model = trainer.model
    total = size(model.parameters()) + size(p.grad for p in model.parameters() if p.grad is not None)
    if trainer.optimizer is not None:
        total += size(v for state in trainer.optimizer.state.values() for v in state.values())
    if getattr(trainer, "ref_model", None) is not None:
        total += size(trainer.ref_model.parameters())
    for func in trainer.reward_funcs:  # the PRM reward holds its PRM in its closure
        cells = getattr(getattr(func, "__wrapped__", func), "__closure__", None) or ()
        for cell in cells:
            if isinstance(cell.cell_contents, torch.nn.Module):
                total += size(cell.cell_contents.parameters())
    return total


def engine_stats(engine, args) -> dict:
    """The colocated engine's model dtype, weights and KV cache bytes (what vLLM reports; None if unknown)."""
    stats = {"budget": args.vllm_gpu_memory_utilization * torch.cuda.mem_get_info()[1]}
    try:
        config = engine.llm.llm_engine.vllm_config
        stats["dtype"] = str(config.model_config.dtype)
        stats["kv_blocks"] = config.cache_config.num_gpu_blocks
        stats["block_size"] = config.cache_config.block_size
        dtype_bytes = torch.empty(0, dtype=config.model_config.dtype).element_size()
        per_token = kv_bytes_per_token(config.model_config.hf_config, dtype_bytes)
        stats["kv_cache"] = float(stats["kv_blocks"] * stats["block_size"] * per_token)
        buffer = getattr(engine, "buffer", None)  # rollout_process: the shared buffer holds the engine's weights
        model = None if buffer is not None else engine.llm.llm_engine.model_executor.driver_worker.model_runner.model
        stats["weights"] = buffer.numel() * buffer.element_size() if buffer is not None else sum(
            p.numel() * p.element_size() for p in model.parameters())
    except (AttributeError, TypeError) as exc:  # another vLLM layout: say so, keep the timings
        stats["error"] = f"{type(exc).__name__}: {exc}"
    return stats


def mean_parts(steps: list[dict]) -> tuple[dict, float]:
    """``({part: mean seconds}, mean step seconds)`` over the given steps."""
    keys = sorted({k for s in steps for k in s})
    mean = {k: sum(s.get(k, 0.0) for s in steps) / len(steps) for k in keys}
    rewards = {k: v for k, v in mean.items() if k.startswith("reward: ")}
    parts = {"rollout (generate)": mean.get("rollout", 0.0)}
    if "weight sync" in mean:
        parts["  of which weight sync"] = mean["weight sync"]
    parts.update(rewards)
    parts["ref logprobs + advantages"] = mean["generate_and_score"] - mean["rollout"] - sum(rewards.values())
    parts["update (fwd/bwd + optimiser)"] = mean["step"] - mean["generate_and_score"]
    return parts, mean["step"]


def report_variant(result: dict, args) -> None:
    parts, step = mean_parts(result["steps"])
    print(f"\n[{result['variant']}] GRPO step on {args.model_config} / {args.device}: {args.prompts} prompts x "
          f"G={args.num_generations}, {args.max_completion_length} new tokens max, mean of {len(result['steps'])} step(s)")  # fmt: skip
    for name, seconds in parts.items():
        print(f"  {name:>32}: {seconds:8.3f} s  {seconds / step:6.1%}")
    print(f"  {'total step':>32}: {step:8.3f} s")
    mem = result["memory"]
    if mem:
        print(f"  memory: torch peak allocated {mem['peak_allocated'] / GIB:.2f} GiB, peak reserved "
              f"{mem['peak_reserved'] / GIB:.2f} GiB, device in use (max seen) {mem['device_used'] / GIB:.2f} GiB "
              f"of {mem['total'] / GIB:.1f} GiB; params x (weights+grads+Adam, ref, PRM) "
              f"{result['trained_bytes'] / GIB:.2f} GiB")  # fmt: skip
    if "engine" in result:
        eng = result["engine"]
        print(f"  vLLM engine: {', '.join(f'{k}={_fmt(v)}' for k, v in eng.items())}")


def _fmt(value) -> str:
    return f"{value / GIB:.2f} GiB" if isinstance(value, float) or (isinstance(value, int) and value > GIB // 8) \
        else str(value)  # fmt: skip


def compare(results: list[dict]) -> None:
    """Speedup of each vLLM variant over ``hf`` and the issue's two goals."""
    steps = {r["variant"]: mean_parts(r["steps"]) for r in results}
    if "hf" not in steps:
        return
    for variant, (parts, step) in steps.items():
        if variant == "hf":
            continue
        speedup, share = steps["hf"][1] / step, parts["rollout (generate)"] / step
        print(f"\n{variant} vs hf: step {speedup:.2f}x faster (goal >= 4x: {'met' if speedup >= 4 else 'NOT met'}); "
              f"rollout {share:.1%} of the step (goal <= 30%: {'met' if share <= 0.30 else 'NOT met'})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-config", choices=["tiny", "qwen3-0.6b"], default="tiny")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--num-generations", type=int, default=4, help="group size G")
    parser.add_argument("--max-completion-length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rollout", default="hf", help=f"comma-separated variants of {VARIANTS}, run in order")
    parser.add_argument("--vllm-gpu-memory-utilization", type=float, default=0.3)
    parser.add_argument("--server-gpu", type=int, default=1, help="GPU of the vllm-server* variants' server")
    parser.add_argument("--grad-accum", type=int, default=1,
                        help="split each step's prompts x G completions into this many update micro-batches")
    parser.add_argument("--generation-steps", type=int, default=1,
                        help="optimizer steps served by one rollout (TRL's steps_per_generation / grad-accum)")
    args = parser.parse_args()
    if args.generation_steps < 1 or args.steps % args.generation_steps or args.steps < 2 * args.generation_steps:
        parser.error(f"--steps {args.steps} must be a multiple of --generation-steps {args.generation_steps}, "
                     "at least two rollouts (the first is warm-up)")
    if args.grad_accum < 1 or (args.prompts * args.num_generations) % args.grad_accum:
        parser.error(f"--grad-accum {args.grad_accum} must divide prompts x G = {args.prompts * args.num_generations}")
    variants = [v.strip() for v in args.rollout.split(",") if v.strip()]
    variants.sort(key=lambda v: "process" not in v)  # child-process engines before in-process ones fill the GPU
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        parser.error(f"--rollout: unknown variant(s) {unknown}; valid: {', '.join(VARIANTS)}")
    if args.device == "cuda":
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")

    from agentark_core.train.prm_model import PRM
    from bench.grpo_memory_estimate import estimate_larger

    with tempfile.TemporaryDirectory() as tmp:
        student = rollout_student(args.model_config, Path(tmp) / "student")
        PRM.from_student(student).save(Path(tmp) / "prm")
        results, server = [], None
        try:
            for variant in variants:
                if variant.startswith("vllm-server") and server is None:
                    from bench.grpo_rollout_server import start_rollout_server

                    server = start_rollout_server(student, args.server_gpu, args.vllm_gpu_memory_utilization,
                                                  1024, tmp)  # fmt: skip
                results.append(run_variant(variant, student, str(Path(tmp) / "prm"), tmp, args, server))
                report_variant(results[-1], args)
        finally:
            if server is not None:
                server.stop()
        compare(results)
        estimate_larger(results, args.model_config, args.prompts * args.num_generations,
                        args.max_completion_length, args.grad_accum)


if __name__ == "__main__":
    main()
