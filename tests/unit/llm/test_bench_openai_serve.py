"""The ``vllm serve`` benchmark's own logic on a CPU (its GPU numbers come from the same code): the server
process group's start / health wait / stop, its failure reports, the options and the table's ratios.
A stand-in server (a few lines of http.server that also starts a child process, as vLLM's API server
starts its engine process) plays ``vllm serve``."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from bench.bench_generation_gpu import Row
from bench.bench_openai_serve_gpu import (
    Server,
    _group_alive,
    free_port,
    parse_args,
    print_table,
    server_command,
)

STAND_IN = textwrap.dedent("""
    import json, subprocess, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # the 'engine process'
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass
        def do_GET(self):
            body = {"/health": {}, "/v1/models": {"data": [{"id": "p1"}]}}.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(json.dumps(body or {}).encode())
        do_POST = do_GET
    print("stand-in server up", flush=True)
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
""")


def test_the_server_group_starts_answers_and_stops_with_its_children(tmp_path):
    port = free_port()
    server = Server([sys.executable, "-c", STAND_IN, str(port)], port, tmp_path / "serve.log")
    seconds = server.start(timeout_s=60)
    group = server.process.pid
    try:
        assert 0 < seconds < 60 and _group_alive(group)
        assert not server.reset_prefix_cache()  # no /reset_prefix_cache here: 404, said, not raised
    finally:
        server.stop(grace_s=10)
    assert not _group_alive(group)  # the child ('engine') went with it
    assert "stand-in server up" in server.tail()
    server.stop()  # stopping twice is harmless


def test_a_server_that_exits_is_reported_with_its_log(tmp_path):
    script = "import sys; print('CUDA out of memory (stand-in)'); sys.exit(3)"
    server = Server([sys.executable, "-c", script], free_port(), tmp_path / "serve.log")
    with pytest.raises(RuntimeError, match=r"(?s)exited with code 3.*CUDA out of memory"):
        server.start(timeout_s=60)


def test_a_server_never_healthy_times_out_with_its_log(tmp_path):
    script = "import time; print('still compiling', flush=True); time.sleep(600)"
    server = Server([sys.executable, "-c", script], free_port(), tmp_path / "serve.log")
    try:
        with pytest.raises(RuntimeError, match=r"(?s)not healthy after 2 s.*still compiling"):
            server.start(timeout_s=2)
    finally:
        server.stop(grace_s=5)
    assert not _group_alive(server.process.pid)


def test_the_server_gets_the_offline_engines_settings():
    engine = {"dtype": "bfloat16", "load_format": "dummy", "gpu_memory_utilization": 0.4, "max_model_len": None}
    command = server_command("/py", "/m", 8123, engine)
    pairs = dict(zip(command[3::2], command[4::2]))
    assert command[:3] == ["/py", "-m", "vllm.entrypoints.openai.api_server"]
    assert {"--model": "/m", "--port": "8123", "--dtype": "bfloat16", "--load-format": "dummy",
            "--gpu-memory-utilization": "0.4"}.items() <= pairs.items()
    assert "--enable-prefix-caching" in command and "--max-model-len" not in command
    assert "--max-model-len" in server_command("/py", "/m", 1, engine | {"max_model_len": 512})


def test_options():
    smoke = parse_args(["--smoke"])
    assert (smoke.questions, smoke.agents, smoke.new_tokens, smoke.reps, smoke.concurrency) == (2, 2, 8, 1, [4])
    assert parse_args([]).concurrency == [64, 256] and parse_args([]).gpu_memory_utilization == 0.4
    assert parse_args(["--sequential"]).gpu_memory_utilization == 0.8
    with pytest.raises(SystemExit):
        parse_args(["--gpu-memory-utilization", "0.8"])  # two engines at 0.8 do not fit one GPU
    with pytest.raises(SystemExit):
        parse_args(["--concurrency", "0"])


def test_table_ratios_compare_each_path_with_the_offline_path_of_its_kind(capsys):
    rows = [Row("offline backend", [1000], [1.0]), Row("offline debate", [1000], [2.0]),
            Row("openai (vllm serve), concurrency 64, backend", [1000, 1000], [4.0, 2.0]),
            Row("openai (vllm serve), concurrency 64, debate", [1000], [4.0])]
    print_table(rows, "test device")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "device: test device"
    assert lines[-2] == "| openai (vllm serve), concurrency 64, backend | 375 | 250-500 | 0.375 |"
    assert lines[-1] == "| openai (vllm serve), concurrency 64, debate | 250 | 250-250 | 0.500 |"


@pytest.fixture(autouse=True)
def _no_dev_mode_leak(monkeypatch):
    monkeypatch.delenv("VLLM_SERVER_DEV_MODE", raising=False)
    yield
    assert "VLLM_SERVER_DEV_MODE" not in os.environ  # set for the server's process only


def test_timed_paths_count_the_round_and_leave_the_aggregator_out(capsys):
    from agentark_core.data.question import Question
    from agentark_core.llm.scripted import ScriptedGenerator
    from agentark_core.llm.types import ChatRequest, SamplingParams
    from agentark_core.mas import prompts
    from bench.bench_openai_serve_gpu import timed_paths

    questions = [Question("toy", "test", "math", f"What is {i} + 2?", str(i + 2)) for i in range(3)]
    requests = [ChatRequest.user(prompts.first_prompt(q)) for q in questions for _ in range(2)]
    gen = ScriptedGenerator(lambda request, call: "one two three Final Answer: 4")  # 6 words: 6 scripted tokens
    paths = timed_paths("fake", gen, requests, questions, SamplingParams(max_tokens=8, seed=0), agents=2)
    assert list(paths) == ["fake backend", "fake debate"]
    tokens, seconds = paths["fake backend"]()
    assert tokens == 6 * 6 and seconds >= 0
    assert "fake backend: prompt tokens per request" in capsys.readouterr().out
    tokens, _ = paths["fake debate"]()
    assert tokens == 6 * 6 and [len(batch) for batch in gen.calls[1:]] == [6, 3]  # round, then aggregator
    paths["fake backend"]()
    assert capsys.readouterr().out == ""  # the prompt report is printed once
