"""`python -m modelship.devcluster.node`: the local node agent process (started by `dev up`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from modelship.devcluster.layout import DevLayout
from modelship.devcluster.node.agent import AgentConfig, NodeAgent
from modelship.devcluster.node.launch import NodeSettings

DEFAULT_NODE_NAME = "local-node"


def parse_args(argv: list[str] | None = None) -> AgentConfig:
    parser = argparse.ArgumentParser(prog="python -m modelship.devcluster.node")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--dev-dir", type=Path, required=True)
    parser.add_argument("--api-port", type=int, required=True)
    parser.add_argument("--api-host", default="127.0.0.1")
    parser.add_argument("--node-name", default=DEFAULT_NODE_NAME)
    parser.add_argument("--cluster-dns", default=None,
                        help="the kube-dns ClusterIP pods resolve names with")  # fmt: skip
    parser.add_argument(
        "--image",
        action="append",
        dest="images",
        help="image repository the node runs (repeatable; default: modelship)",
    )
    parser.add_argument("--backoff-base", type=float, default=10.0,
                        help="first crash-loop back-off in seconds (kubelet: 10)")  # fmt: skip
    parser.add_argument("--backoff-cap", type=float, default=300.0)
    args = parser.parse_args(argv)
    settings = NodeSettings(
        api_host=args.api_host,
        api_port=args.api_port,
        python=sys.executable,
        images=tuple(args.images or ["modelship"]),
        backoff_base=args.backoff_base,
        backoff_cap=args.backoff_cap,
        cluster_dns=args.cluster_dns,
    )
    return AgentConfig(
        args.node_name, DevLayout(args.dev_dir.absolute()), args.kubeconfig, settings
    )


async def _main(config: AgentConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await NodeAgent(config).run(stop)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(_main(parse_args(argv)))


if __name__ == "__main__":
    main()
