"""The HTTP service over a configuration, in its own process, for the protocol benchmarks:
``python -m bench.serve CONFIG PORT`` serves the Trino client protocol on 127.0.0.1 in
insecure (trusted ``X-Trino-User``, loopback only) mode.

:class:`Server` starts it, waits until it answers, and stops it (by its own process id).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests

HOST = "127.0.0.1"


class Server:
    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config = config
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Server:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.serve", str(self.config), str(self.port)],
            stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parent.parent)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited at start; see {self.log}")
            try:
                if requests.get(f"http://{HOST}:{self.port}/v1/info", timeout=2).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.__exit__(None, None, None)
        raise RuntimeError(f"the service did not answer within 60 s; see {self.log}")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(argv: list[str]) -> None:
    import uvicorn

    from gateway.server import create_app, settle_heap
    from gateway.server.auth import InsecureAuthenticator
    from gateway.service import Gateway

    config, port = Path(argv[0]), int(argv[1])
    gateway = Gateway.from_config(config)
    app = create_app(gateway, InsecureAuthenticator(HOST))
    settle_heap()
    try:
        uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)
    finally:
        gateway.close()


if __name__ == "__main__":
    main(sys.argv[1:])
