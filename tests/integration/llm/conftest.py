"""A real OpenAI-compatible chat server on 127.0.0.1 serving the tiny model via the transformers backend.

Fault injection (fail the first N requests, answer slowly) and an in-flight counter let the
tests check the openai backend's retries, timeouts and concurrency bound against real HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agentark_core.llm.types import ChatRequest, SamplingParams
from agentark_core.toy.tiny import make_tiny_model


@dataclass
class ServerState:
    """What the server does and what it saw."""

    generator: object
    fail_first: int = 0
    fail_status: int = 500
    delay_s: float = 0.0
    bodies: list = field(default_factory=list)
    reply: dict | None = None  # a fixed {"message": ..., "finish_reason": ...} instead of the model's
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    model_lock: threading.Lock = field(default_factory=threading.Lock)


def _make_handler(state: ServerState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": f"no route {self.path}"})
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.bodies.append(body)
                failing = len(state.bodies) <= state.fail_first
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                time.sleep(state.delay_s)
                status, payload = (state.fail_status, {"error": "injected failure"}) if failing else (
                    200, _complete(state, body))
            finally:
                with state.lock:  # out of flight before the reply leaves: the client may send its next at once
                    state.in_flight -= 1
            self._send(status, payload)

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

    return Handler


def _complete(state: ServerState, body: dict) -> dict:
    """Answer one chat request like vLLM's server does, structured_outputs choice included."""
    choice = (body.get("structured_outputs") or {}).get("choice")
    request = ChatRequest(messages=tuple(body["messages"]), guided_choice=tuple(choice) if choice else None)
    params = SamplingParams(
        temperature=body.get("temperature", 1.0),
        top_p=body.get("top_p", 1.0),
        max_tokens=body.get("max_tokens", 16),
        seed=body.get("seed"),
        stop=tuple(body.get("stop") or ()),
    )
    with state.model_lock:
        completion = state.generator.generate([request], params)[0]
    choice = {"index": 0, "message": {"role": "assistant", "content": completion.text},
              "finish_reason": completion.finish_reason} | (state.reply or {})
    return {
        "id": f"chatcmpl-{len(state.bodies)}",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [choice],
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        },
    }


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory):
    from agentark_core.llm.hf_backend import TransformersGenerator

    path = make_tiny_model(tmp_path_factory.mktemp("served"), initializer_range=0.3)
    return TransformersGenerator(model=path, show_progress=False)


@pytest.fixture
def serve(tiny_generator):
    """Start servers on free ports: ``state, base_url = serve(fail_first=2)``; all stop after the test."""
    servers = []

    def start(**behaviour) -> tuple[ServerState, str]:
        state = ServerState(generator=tiny_generator, **behaviour)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return state, f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
