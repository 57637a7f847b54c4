"""Real servers for tests, started on 127.0.0.1 by the test session itself."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path


def free_port(span: int = 0) -> int:
    """A free TCP port p such that p + span is free too (SeaweedFS uses port + 10000 for gRPC)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + span > 65000:
            continue
        if span == 0 or _is_free(port + span):
            return port
    raise RuntimeError("no free port pair found")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class SeaweedS3:
    """SeaweedFS master + volume + filer + S3 gateway with one access key enforced."""

    access_key = "AGENTARKTEST"
    secret_key = "agentark-test-secret-key"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @staticmethod
    def binary() -> str | None:
        """``weed`` on PATH, or next to this interpreter (a venv used without activation)."""
        beside = Path(sys.executable).parent / "weed"
        return shutil.which("weed") or (str(beside) if beside.exists() else None)

    def available(self) -> bool:
        return self.binary() is not None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def storage_options(self) -> dict:
        return {"key": self.access_key, "secret": self.secret_key, "client_kwargs": {"endpoint_url": self.endpoint}}

    def env(self) -> dict:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": "us-east-1"}

    def start(self, timeout_s: float = 60) -> None:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "tester",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        ports = {name: free_port(10000) for name in ("master", "volume", "filer", "s3")}
        self.port = ports["s3"]
        cmd = [self.binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
               f"-filer.port={ports['filer']}", "-s3", f"-s3.port={ports['s3']}", f"-s3.config={config}",
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=64", "-volume.max=200"]
        log = (self.workdir / "weed.log").open("wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self._wait(timeout_s)

    def _wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited early; see {self.workdir / 'weed.log'}")
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)
            except urllib.error.HTTPError:
                return self._wait_writable(deadline)  # 403: gateway up, auth enforced
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"SeaweedFS S3 gateway not up after {timeout_s}s")

    def _wait_writable(self, deadline: float) -> None:
        import s3fs

        fs = s3fs.S3FileSystem(**self.storage_options())
        probe = f"probe-{uuid.uuid4().hex[:8]}"
        while True:
            try:
                fs.mkdir(probe)
                fs.pipe(f"{probe}/x", b"1")
                fs.rm(probe, recursive=True)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    bucket = "agentark-tests"

    def new_root(self) -> str:
        """A fresh ``s3://`` prefix in the session's one bucket (each new bucket would cost
        SeaweedFS a new collection of volumes)."""
        import s3fs

        fs = s3fs.S3FileSystem(**self.storage_options())
        if not fs.exists(self.bucket):
            fs.mkdir(self.bucket)
        return f"s3://{self.bucket}/{uuid.uuid4().hex[:10]}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
