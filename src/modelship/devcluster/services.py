"""The local cluster's Service network processes: kube-proxy and CoreDNS, built and started.

Only a cluster `up` runs as root with a node gets a routed service network (`servicenet` builds
the links and addresses); then Services resolve and route as on a real cluster. Kept apart from
`cluster.py`, which starts the control plane, because these two come from a separate build (the
kube-proxy of the cluster's release and CoreDNS, from Go modules on first use) and carry their
own configuration.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from modelship.devcluster import coredns, servicenet
from modelship.devcluster.binaries import requested_version
from modelship.devcluster.gobuild import build_from_modules
from modelship.devcluster.gocache import GoBuildSettings
from modelship.devcluster.kubeapi import ApiError, KubeClient
from modelship.devcluster.node.__main__ import DEFAULT_NODE_NAME as NODE_NAME
from modelship.devcluster.processes import ProcessRecord


def service_binaries() -> tuple[Path, Path]:
    """kube-proxy (of the cluster's release) and CoreDNS, built on first use."""
    settings = GoBuildSettings.from_environ(os.environ)
    release = build_from_modules(requested_version(os.environ), settings, extra=["kube-proxy"])
    return release.binaries["kube-proxy"], coredns.coredns_binary(settings)


def start_services(
    spawn: Callable[[str, list[str]], ProcessRecord],
    root: Path,
    kubeconfig: Path,
    plan: servicenet.AddressPlan,
    network: tuple[Path, Path],
    client: KubeClient,
) -> None:
    """CoreDNS on the host end of the service link, kube-proxy in the service namespace,
    and the `kube-dns` Service in front of CoreDNS."""
    kube_proxy, coredns_binary = network
    corefile = root / "Corefile"
    corefile.write_text(coredns.corefile(plan.host_address, kubeconfig, "modelship-dev"))
    spawn("coredns", coredns.coredns_argv(coredns_binary, corefile))
    config = root / "kube-proxy.yaml"
    config.write_text(servicenet.kube_proxy_config(plan, kubeconfig, NODE_NAME))
    spawn("kube-proxy", servicenet.kube_proxy_argv(plan, kube_proxy, config))
    service, endpoint_slice = servicenet.kube_dns_objects(plan)
    for path, body in (
        ("/api/v1/namespaces/kube-system/services", service),
        ("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices", endpoint_slice),
    ):
        try:
            client.post(path, body)
        except ApiError as error:
            if error.status != 409:
                raise
