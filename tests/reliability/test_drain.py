"""SIGTERM under load, on a real service process: every request that was sent gets an answer.

Before, the drain's 503s kept connections alive, so clients reused them and requests were lost when the
process closed them; and the process exited as soon as in-flight work was done (about a second), while a
load balancer could still be routing to it. Now readiness turns 503 at once, requests are still served for
COURIER_DRAIN_MIN_S (every response with `Connection: close`, so no connection is reused), then refused
with 503 + `Connection: close`, and the process exits once in-flight work is done.

The load here stands for clients behind a load balancer: a probe reads /readyz every 0.25 s and, 0.25 s
after it first sees 503, the balancer stops routing here (the clients stop sending). One more client
ignores the balancer and keeps connecting directly; its figures are reported, not asserted: a client that
keeps opening connections to a process that is closing its port can always meet a reset.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from harness.images import image_bytes, item
from harness.models import ModelRepo
from harness.service import start_service
from tests.reliability.load import Load, between, fault_line, tally

DRAIN_MIN_S = 1.5
PROBE_EVERY_S = 0.25
BALANCER_REACTION_S = 0.25


def embed_new(thread: int, number: int) -> tuple[str, str, dict]:
    image = image_bytes(seed=thread * 10_000 + number)
    return "POST", "/embed", {"items": [item(f"t{thread}-{number}", image)]}


def balancer(url: str, load: Load, stop: threading.Event) -> None:
    """Stop routing to `url` once its readiness probe answers anything but 200."""
    with httpx.Client(base_url=url, timeout=2) as probe:
        while not stop.is_set():
            try:
                ready = probe.get("/readyz").status_code == 200
            except httpx.TransportError:
                ready = False
            if not ready:
                time.sleep(BALANCER_REACTION_S)
                load.routed.clear()
                return
            time.sleep(PROBE_EVERY_S)


def test_sigterm_under_load_answers_every_request(onnx_model_repo: ModelRepo, tmp_path: Path) -> None:
    settings = {
        "COURIER_MODEL_REPOSITORY": onnx_model_repo.root,
        "COURIER_MODEL_NAME": onnx_model_repo.name,
        "COURIER_DECODE_WORKERS": 1,
        "COURIER_DRAIN_MIN_S": DRAIN_MIN_S,
        "COURIER_DRAIN_TIMEOUT_S": 10,
    }
    server = start_service(settings, tmp_path / "service.log")
    stop_probe = threading.Event()
    try:
        balanced = Load(server.url, embed_new, threads=6, timeout_s=15).start()
        direct = Load(server.url, lambda _, n: embed_new(99, n), threads=1, timeout_s=15).start()
        probe = threading.Thread(target=balancer, args=(server.url, balanced, stop_probe), daemon=True)
        probe.start()
        time.sleep(1.5)
        sigterm = time.monotonic()
        server.terminate()
        time.sleep(0.2)
        with httpx.Client(base_url=server.url) as client:
            try:
                readiness: httpx.Response | None = client.get("/readyz")
            except httpx.TransportError:  # gone already: nothing kept answering for the load balancer
                readiness = None
        exit_code = server.process.wait(timeout=20)
        exited = time.monotonic()
        time.sleep(0.3)
        results, rogue = balanced.stop(), direct.stop()
    finally:
        stop_probe.set()
        server.stop()

    summary = tally(results)
    draining = between(results, sigterm + 0.05, exited)
    print(
        "\n"
        + fault_line(
            "sigterm_under_load",
            **summary,
            answered_while_draining=sum(r.status is not None for r in draining),
            exit_after_s=round(exited - sigterm, 2),
            direct_client=tally(rogue),
        )
    )
    assert summary["lost"] == 0 and summary["refused_connections"] == 0, summary
    assert exit_code == 0
    assert readiness is not None and readiness.status_code == 503 and readiness.json()["status"] == "draining"
    assert readiness.headers["connection"] == "close"
    # the balancer moved the clients away within the minimum drain period: all of them were served
    assert draining and all(r.status == 200 and r.connection_close for r in draining)
    assert summary == {"sent": summary["sent"], "lost": 0, "refused_connections": 0, "200": summary["sent"]}
    assert DRAIN_MIN_S <= exited - sigterm < DRAIN_MIN_S + 10
    assert "shut down cleanly" in server.log()
