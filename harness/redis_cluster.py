"""A real three-primary Redis Cluster on loopback (free ports, no persistence).

Tests may kill a primary, restart it on the same port (it rejoins with its slots, empty), or give one a
replica and let the cluster fail over; `reset()` brings every node back, drops replicas (three primaries
remain) and empties the cluster. Nodes run with `cluster-require-full-coverage no` (a dead primary costs
only its own slots) and a one-second node timeout (failover in seconds). Tests get it from the fixtures in
tests/fixtures/redis_cluster.py; benchmarks/serve.py --redis-cluster starts one directly.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.redis import REDIS_SERVER, free_port

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
NODE_TIMEOUT_MS = 1000


@dataclass
class ClusterNode:
    port: int
    bus_port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                str(self.bus_port),
                "--cluster-config-file",
                f"nodes-{self.port}.conf",
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                "--cluster-require-full-coverage",
                "no",
                "--repl-diskless-sync-delay",
                "0",
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "no",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until(lambda: self.cli("PING") == "PONG", f"redis-server on port {self.port}", 10)

    def kill(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=10)

    def cli(self, *args: str) -> str:
        """One command through redis-cli (no cluster redirection); '' when the node does not answer."""
        done = subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return done.stdout.strip() if done.returncode == 0 else ""


class RedisClusterServer:
    """Three masters covering all 16384 slots, plus any replicas a test adds."""

    def __init__(self, workdir: Path, masters: int = 3) -> None:
        self.workdir = workdir
        self.nodes = [self._new_node() for _ in range(masters)]
        self.seed = self.nodes[0]

    @property
    def url(self) -> str:
        """A seed node's URL: cluster clients discover the other nodes from it."""
        return f"redis://{self.seed.address}/0"

    def _new_node(self) -> ClusterNode:
        """A node with a directory of its own (a replica's full sync writes dump.rdb there)."""
        port = free_port()
        workdir = self.workdir / str(port)
        workdir.mkdir()
        return ClusterNode(port, free_port(), workdir)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        created = subprocess.run(
            [REDIS_CLI, "--cluster", "create", *(n.address for n in self.nodes)]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}\n{created.stderr}")
        self.wait_healthy()

    def kill(self) -> None:
        """Stop every node (the name matches `RedisServer.kill`)."""
        for node in self.nodes:
            node.kill()

    def node_id(self, node: ClusterNode) -> str:
        return node.cli("CLUSTER", "MYID")

    def masters(self) -> list[ClusterNode]:
        """Live primaries now (a failover changes which)."""
        return [n for n in self.nodes if n.alive and _role(n) == "role:master"]

    def victim(self) -> ClusterNode:
        """A primary tests may kill: not the seed node clients start from, and without a replica (its slots
        really go down)."""
        return next(
            n
            for n in self.masters()
            if n is not self.seed and "connected_slaves:0" in n.cli("INFO", "replication")
        )

    def master_of(self, key: str) -> ClusterNode:
        slot = int(self.seed_alive().cli("CLUSTER", "KEYSLOT", key))
        for node in self.nodes:
            if node.alive and _role(node) == "role:master" and _owns(node, slot):
                return node
        raise AssertionError(f"no live master owns slot {slot} of {key!r}")

    def seed_alive(self) -> ClusterNode:
        return next(n for n in self.nodes if n.alive)

    def restart(self, node: ClusterNode) -> None:
        """Start a killed node again on its port; it rejoins from its nodes.conf (its data is gone)."""
        node.kill()
        node.start()

    def add_replica(self, master: ClusterNode) -> ClusterNode:
        """A new node replicating `master`, synced before this returns."""
        replica = self._new_node()
        replica.start()
        self.nodes.append(replica)
        replica.cli("CLUSTER", "MEET", "127.0.0.1", str(master.port), str(master.bus_port))
        master_id = self.node_id(master)
        _wait_until(lambda: master_id in replica.cli("CLUSTER", "NODES"), "the replica to meet", 10)
        _wait_until(lambda: replica.cli("CLUSTER", "REPLICATE", master_id) == "OK", "CLUSTER REPLICATE", 10)
        _wait_until(
            lambda: "master_link_status:up" in replica.cli("INFO", "replication"), "the replica to sync", 20
        )
        replica_id = self.node_id(replica)

        def known_everywhere() -> bool:  # masters refuse to elect a replica they do not know as such
            views = [n.cli("CLUSTER", "NODES") for n in self.masters()]
            return all(f"{replica_id} " in v and f"slave {master_id}" in v for v in views)

        _wait_until(known_everywhere, "every master to know the replica", 20)
        return replica

    def wait_healthy(self, timeout_s: float = 30) -> None:
        """Every node answers, every slot has a live master and all nodes report cluster_state:ok."""

        def healthy() -> bool:
            if not all(n.alive for n in self.nodes):
                return False
            infos = [n.cli("CLUSTER", "INFO") for n in self.nodes]
            if not all("cluster_state:ok" in i and "cluster_slots_ok:16384" in i for i in infos):
                return False
            return not any(_failing(n) for n in self.nodes)

        _wait_until(healthy, "a healthy cluster", timeout_s)

    def reset(self) -> None:
        """Back to three primaries without replicas, emptied: restart a killed primary that still owns its
        slots; drop (kill and forget) every other node: replicas, and primaries a failover replaced."""
        view = {fields[1].split("@")[0]: fields for fields in _view(self.seed)}
        for node in list(self.nodes):
            fields = view.get(node.address, [])
            if len(fields) > 8:  # owns slots
                if not node.alive:
                    node.start()
                continue
            node.kill()
            self.nodes.remove(node)
            if fields:
                for other in self.nodes:
                    other.cli("CLUSTER", "FORGET", fields[0])
        self.wait_healthy()
        for node in self.nodes:
            node.cli("FLUSHALL")


def _view(node: ClusterNode) -> list[list[str]]:
    """CLUSTER NODES as seen by `node`: id, address, flags, master, ..., slot ranges."""
    return [line.split() for line in node.cli("CLUSTER", "NODES").splitlines()]


def _role(node: ClusterNode) -> str:
    info = node.cli("INFO", "replication")
    return next((line for line in info.splitlines() if line.startswith("role:")), "")


def _failing(node: ClusterNode) -> bool:
    """True while this node sees any node as failing (flags `fail` or `fail?`)."""
    return any("fail" in fields[2] for fields in _view(node))


def _owns(node: ClusterNode, slot: int) -> bool:
    myself = next(line for line in node.cli("CLUSTER", "NODES").splitlines() if "myself" in line)
    for part in myself.split()[8:]:
        low, _, high = part.partition("-")
        if low.isdigit() and int(low) <= slot <= int(high or low):
            return True
    return False


def _wait_until(condition, what: str, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout_s}s waiting for {what}")
