"""`modelship dev up|down|status|build|logs|webhook`: the local cluster from the command line."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modelship.devcluster import coredns, traefik
from modelship.devcluster.binaries import BinariesError, requested_version
from modelship.devcluster.cluster import DevCluster
from modelship.devcluster.gobuild import build_from_modules
from modelship.devcluster.gocache import GoBuildSettings
from modelship.devcluster.gotool import reported_version
from modelship.devcluster.kubeapi import ApiEndpoint, ApiError, KubeClient
from modelship.devcluster.layout import DEV_DIR_ENV, DevLayout, default_dev_dir
from modelship.devcluster.node.logfiles import find_log
from modelship.devcluster.readiness import DevClusterError
from modelship.devcluster.webhooks import (
    WEBHOOK_MANIFEST,
    WEBHOOK_PORT,
    operator_pod_address,
    point_webhooks,
    remove_webhooks,
    served_certificate,
)


def register(subparsers: Any) -> None:
    dev = subparsers.add_parser("dev", help="run the local cluster (control plane and node)")
    dev.add_argument(
        "--dev-dir",
        type=Path,
        default=None,
        help=f"cluster directory (default: ${DEV_DIR_ENV} or ./.modelship/dev)",
    )
    commands = dev.add_subparsers(dest="dev_command", metavar="COMMAND", required=True)

    up = commands.add_parser("up", help="start the cluster and install the CRDs")
    up.add_argument("--crds", type=Path, default=Path("crds"),
                    help="directory of CRDs to install (default: ./crds when present)")  # fmt: skip
    up.add_argument("--no-node", action="store_true", help="control plane only")
    up.set_defaults(func=_up)

    down = commands.add_parser("down", help="stop the cluster and every pod process")
    down.add_argument("--purge", action="store_true", help="also delete the cluster directory")
    down.set_defaults(func=_down)

    status = commands.add_parser("status", help="show the cluster's processes (exit 3: stopped)")
    status.set_defaults(func=_status)

    build = commands.add_parser("build", help="obtain (on first use, build) the binaries")
    build.add_argument(
        "--kubernetes",
        metavar="VERSION",
        default=None,
        help="build this release (1.X.Y, or 1.X for its newest patch) and its etcd instead of "
        "the one the local cluster runs ($MODELSHIP_KUBERNETES_VERSION, else the newest supported)",
    )
    build.add_argument("--with-kubectl", action="store_true", help="build kubectl as well")
    build.set_defaults(func=_build)

    logs = commands.add_parser("logs", help="print a local pod's container log")
    logs.add_argument("pod")
    logs.add_argument("-c", "--container", default=None)
    logs.add_argument("-n", "--namespace", default="default")
    logs.add_argument("-p", "--previous", action="store_true", help="the run before the last")
    logs.set_defaults(func=_logs)

    webhook = commands.add_parser(
        "webhook",
        help="point the approval webhook by URL at an operator outside the cluster (`make run`); "
        "a deployed operator needs nothing: it keeps its certificates, called via its Service",
    )
    webhook.add_argument(
        "--url",
        default=None,
        help="https://HOST:PORT of the operator's webhook (default: a running operator pod's "
        f"address, port {WEBHOOK_PORT}); `make run` serves https://127.0.0.1:9443",
    )
    webhook.add_argument(
        "--manifest",
        type=Path,
        default=WEBHOOK_MANIFEST,
        help=f"the webhook configurations (default: ./{WEBHOOK_MANIFEST})",
    )
    webhook.add_argument("--timeout", type=float, default=180.0, help="wait this long for a pod")
    webhook.add_argument("--remove", action="store_true", help="delete the configurations")
    webhook.set_defaults(func=_webhook)


def _cluster(args: argparse.Namespace, node: bool = True) -> DevCluster:
    return DevCluster(args.dev_dir or default_dev_dir(), node=node)


def _up(args: argparse.Namespace) -> int:
    cluster = _cluster(args, node=not args.no_node)
    crds = args.crds if args.crds.is_dir() else None
    try:
        cluster.up(crds_dir=crds)
    except (DevClusterError, BinariesError, TimeoutError) as error:
        print(f"modelship dev up: {error}", file=sys.stderr)
        return 1
    status = cluster.status()
    print(f"local cluster running at {status.server} (logs: {cluster.layout.logs})",
          file=sys.stderr)  # fmt: skip
    if crds is None:
        print(f"no CRDs installed ({args.crds} is not a directory)", file=sys.stderr)
    print(f"registry at {status.registry} (catalog {cluster.catalog_uri})", file=sys.stderr)
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


def _down(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    cluster.down()
    if args.purge:
        shutil.rmtree(cluster.dev_dir, ignore_errors=True)
    print(f"local cluster in {cluster.dev_dir} stopped", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    status = _cluster(args).status()
    for name, alive in status.processes.items():
        print(f"{name:<24} {'running' if alive else 'stopped'}")
    print(f"server      {status.server or '-'}")
    print(f"registry    {status.registry or '-'}")
    print(f"kubeconfig  {status.kubeconfig}")
    return 0 if status.running else 3


def _build(args: argparse.Namespace) -> int:
    version = args.kubernetes or requested_version(os.environ)
    settings = GoBuildSettings.from_environ(os.environ)
    try:
        # kube-proxy and CoreDNS route and name the cluster's Services (servicenet.py).
        built = build_from_modules(
            version, settings, kubectl=args.with_kubectl, extra=["kube-proxy"]
        )
        dns = coredns.coredns_binary(settings)
        # The Gateway API implementation the gatewayAPI canary runs through (traefik.py).
        gateway = traefik.traefik_binary(settings)
    except (BinariesError, ValueError) as error:
        print(f"modelship dev build: {error}", file=sys.stderr)
        return 1
    print(f"Kubernetes {built.kubernetes} with etcd {built.etcd}")
    for name, path in {**built.binaries, "coredns": dns, "traefik": gateway}.items():
        print(f"{name:<24} {path}")
        print(f"{'':<24} {reported_version(name, path)}")
    return 0


def _webhook(args: argparse.Namespace) -> int:
    kubeconfig = Path(os.environ.get("KUBECONFIG") or _cluster(args).kubeconfig)
    try:
        with KubeClient(ApiEndpoint.from_kubeconfig(kubeconfig)) as client:
            if args.remove:
                remove_webhooks(client, args.manifest)
                print("approval webhook configurations removed", file=sys.stderr)
                return 0
            url = args.url or f"https://{operator_pod_address(client, args.timeout)}:{WEBHOOK_PORT}"
            where = urlsplit(url)
            ca = served_certificate(where.hostname or "127.0.0.1", where.port or 443)
            names = point_webhooks(client, args.manifest, url.rstrip("/"), ca)
    except (ApiError, OSError, TimeoutError) as error:
        print(f"modelship dev webhook: {error}", file=sys.stderr)
        return 1
    print(f"{', '.join(names)} -> {url}", file=sys.stderr)
    return 0


def _logs(args: argparse.Namespace) -> int:
    layout = DevLayout((args.dev_dir or default_dev_dir()).absolute())
    try:
        path = find_log(layout, args.namespace, args.pod, args.container, args.previous)
    except LookupError as error:
        print(f"modelship dev logs: {error}", file=sys.stderr)
        return 1
    with path.open("rb") as handle:
        shutil.copyfileobj(handle, sys.stdout.buffer)
    return 0
