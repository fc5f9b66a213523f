"""A real redis-server on a free port (no persistence), which tests can kill and restart on the same port, or
freeze (SIGSTOP: connections stay open, nothing answers) and thaw; and `redis-cli` as rankers outside Python
would use it."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode} on port {self.port}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: the server holds its connections but answers nothing until `thaw`."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)


_CLI_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", '"': b'"', "\\": b"\\"}


def redis_cli(port: int, *args: str, cluster: bool = False) -> str:
    """One command through the `redis-cli` binary (`-c` follows cluster redirects), output as printed with
    `--no-raw`: strings quoted, bytes outside printable ASCII as \\xHH escapes."""
    command = [
        "redis-cli",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--no-raw",
        *(["-c"] if cluster else []),
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.rstrip("\n")


def unquote_cli(text: str) -> bytes:
    """The bytes of one quoted `redis-cli --no-raw` string (C-style escapes, as redis-cli writes them)."""
    assert text.startswith('"') and text.endswith('"'), text[:80]
    body, out, k = text[1:-1], bytearray(), 0
    while k < len(body):
        if body[k] != "\\":
            out += body[k].encode("latin-1")
            k += 1
        elif body[k + 1] == "x":
            out.append(int(body[k + 2 : k + 4], 16))
            k += 4
        else:
            out += _CLI_ESCAPES[body[k + 1]]
            k += 2
    return bytes(out)
