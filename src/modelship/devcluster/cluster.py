"""`DevCluster`: bring a local control plane (and the local node) up and down.

The one class the CLI, `make cluster-up` and the test fixtures share. `up` starts etcd,
kube-apiserver, kube-controller-manager, kube-scheduler and the local node agent, waits until the
cluster can really serve (API ready, the `default` ServiceAccount and the cluster's CA ConfigMap
that every pod mounts exist, CRDs Established) and writes the kubeconfig; `down` stops every
process it started, pods included, and is idempotent.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from modelship.devcluster import controlplane, processes, registry, servicenet, services
from modelship.devcluster.binaries import (
    ControlPlaneBinaries,
    resolve_binaries,
)
from modelship.devcluster.crds import install_crds
from modelship.devcluster.gatewayapi import standard_crds
from modelship.devcluster.gocache import GoBuildSettings
from modelship.devcluster.kubeapi import ApiEndpoint, ApiError, KubeClient
from modelship.devcluster.kubeconfig import render_kubeconfig, write_kubeconfig
from modelship.devcluster.layout import DevLayout
from modelship.devcluster.node.network import remove_bridge
from modelship.devcluster.node.pidfiles import kill_all_pods
from modelship.devcluster.octets import kept_octet
from modelship.devcluster.pki import Pki
from modelship.devcluster.ports import free_ports, is_listening
from modelship.devcluster.processes import ProcessRecord
from modelship.devcluster.readiness import (
    api_ready,
    etcd_healthy,
    node_ready,
    pods_admissible,
    wait_until,
)
from modelship.devcluster.state import ClusterState

# Stop order: the node first (it stops the pods while the API server can still be told), then
# the controllers, the API server and last its storage.
STOP_ORDER = (
    "local-node",
    "kube-proxy",
    "coredns",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
    "registry",
)


# The operator's namespace exists from the start: an operator run as a local process (`make run`)
# keeps its leader Lease there, beside the one `make deploy` would start.
OPERATOR_NAMESPACE = "modelship-system"


def _ensure_namespace(client: KubeClient, name: str) -> None:
    try:
        client.post("/api/v1/namespaces", {"metadata": {"name": name}})
    except ApiError as error:
        if error.status != 409:
            raise


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    processes: dict[str, bool]
    server: str | None
    kubeconfig: Path
    registry: str | None = None


class DevCluster:
    """A local Kubernetes cluster whose files all live in `dev_dir`."""

    def __init__(
        self,
        dev_dir: Path,
        binaries: ControlPlaneBinaries | None = None,
        *,
        node: bool = True,
        node_args: tuple[str, ...] = (),
        timeout: float = 120.0,
    ) -> None:
        self.layout = DevLayout(Path(dev_dir).absolute())
        self._binaries = binaries
        self._node = node
        self._node_args = node_args
        self._timeout = timeout

    @property
    def dev_dir(self) -> Path:
        return self.layout.root

    @property
    def kubeconfig(self) -> Path:
        """The cluster-admin kubeconfig (`export KUBECONFIG=...`)."""
        return self.layout.kubeconfig

    @property
    def node_kubeconfig(self) -> Path:
        return self.layout.pki / "local-node.kubeconfig"

    def endpoint(self) -> ApiEndpoint:
        return ApiEndpoint.from_kubeconfig(self.kubeconfig)

    def client(self) -> KubeClient:
        return KubeClient(self.endpoint())

    def status(self) -> ClusterStatus:
        state = ClusterState.load(self.layout.state_file)
        alive = {name: processes.is_alive(record) for name, record in state.processes.items()}
        # Whatever `up` started (with or without the node and the service network) must all be
        # alive.
        control_plane = set(STOP_ORDER) - {"local-node", "kube-proxy", "coredns"}
        running = control_plane <= set(alive) and all(alive.values())
        server = state.ports.apiserver_url if state.ports else None
        registry_url = registry.RegistryFiles(self.dev_dir).url() if "registry" in alive else None
        return ClusterStatus(running, alive, server, self.kubeconfig, registry_url)

    @property
    def host_for_pods(self) -> str:
        """The host's address as pods reach it (API server, registry, a test's file server):
        the host's end of the service link, or loopback when pods share the host's network."""
        ports = ClusterState.load(self.layout.state_file).ports
        return ports.api_host if ports else "127.0.0.1"

    @property
    def catalog_uri(self) -> str:
        """The registry catalog every namespace of this cluster shares (the default catalog)."""
        return registry.RegistryFiles(self.dev_dir).catalog_file.read_text().strip()

    def up(self, crds_dir: Path | None = None, *, gateway_api: bool = True) -> None:
        """Start the cluster unless all of it already runs (a partial one is restarted), wait
        until it serves, then install the CRDs of crds_dir (and the Gateway API's standard
        CRDs, as clusters that offer `traffic: gatewayAPI` have them)."""
        status = self.status()
        complete = (
            status.running
            and "registry" in status.processes  # one started before the registry existed
            and (not self._node or "local-node" in status.processes)
            # One started before Services were routed, where they can be.
            and (not self._routable() or "kube-proxy" in status.processes)
        )
        if not complete:
            self.down()
            try:
                self._start()
            except BaseException:
                self.down()
                raise
        with self.client() as client:
            _ensure_namespace(client, OPERATOR_NAMESPACE)
            if crds_dir is not None:
                install_crds(client, crds_dir)
            if gateway_api:
                install_crds(client, standard_crds(GoBuildSettings.from_environ(os.environ)))

    def down(self) -> None:
        """Stop every process this cluster started (node, pods, control plane); idempotent."""
        state = ClusterState.load(self.layout.state_file)
        for name in STOP_ORDER:
            record = state.processes.get(name)
            if record is not None:
                # The node stops its pods on SIGTERM; give it time to do so gracefully.
                processes.stop([record], grace=40.0 if name == "local-node" else 10.0)
        processes.stop(list(state.processes.values()), grace=1.0)
        # Safety net: pod processes the node could not stop (it crashed, or was killed).
        kill_all_pods(self.layout)
        # And the pods' addresses, when the node could not remove them itself, and the
        # service network.
        node_file = self.layout.root / "node.json"
        if node_file.exists():
            octet = int(json.loads(node_file.read_text()).get("subnetOctet", 0))
            remove_bridge(octet)
            if 1 <= octet <= 254:
                servicenet.remove_service_network(servicenet.AddressPlan(octet))
        state.processes.clear()
        if self.layout.state_file.exists():
            state.save(self.layout.state_file)

    # -- starting -------------------------------------------------------------------------

    def _start(self) -> None:
        binaries = self._binaries or resolve_binaries()
        layout = self.layout
        layout.create()
        plan = servicenet.AddressPlan(kept_octet(layout.root))
        # kube-proxy and CoreDNS, where the service network can be built (`_routable`).
        network = services.service_binaries() if self._routable() else None
        routed = network is not None and servicenet.create_service_network(plan)
        api_host = plan.host_address if routed else "127.0.0.1"
        pki = Pki(layout.pki)
        pki.ensure([plan.kubernetes_service_ip, *([api_host] if routed else [])])
        state = ClusterState.load(layout.state_file)
        state.ports = replace(_reuse_or_pick_ports(state.ports), api_host=api_host)
        state.save(layout.state_file)
        ports = state.ports
        tokens = pki.tokens()
        ca = pki.ca_cert.read_bytes()
        kubeconfigs = {
            "admin": layout.kubeconfig,
            "controller-manager": layout.pki / "controller-manager.kubeconfig",
            "scheduler": layout.pki / "scheduler.kubeconfig",
            "local-node": self.node_kubeconfig,
        }
        for identity, path in kubeconfigs.items():
            config = render_kubeconfig(ports.apiserver_url, ca, tokens[identity], identity)
            write_kubeconfig(path, config)

        layout.audit_policy.write_text(controlplane.AUDIT_POLICY)
        files = registry.RegistryFiles(layout.root)
        store = self._spawn(state, "registry", registry.prepare(files, api_host))
        wait_until(store, lambda: registry.ready(files), self._timeout, "the registry answers /v2/")
        etcd = self._spawn(state, "etcd", controlplane.etcd_argv(binaries, layout, ports))
        wait_until(etcd, lambda: etcd_healthy(ports.etcd_client), self._timeout, "etcd is healthy")
        apiserver = self._spawn(
            state, "kube-apiserver", controlplane.apiserver_argv(binaries, layout, ports, plan)
        )
        with self.client() as client:
            wait_until(apiserver, lambda: api_ready(client), self._timeout, "/readyz is ok")
            kcm_argv = controlplane.controller_manager_argv(
                binaries, layout, kubeconfigs["controller-manager"], plan
            )
            kcm = self._spawn(state, "kube-controller-manager", kcm_argv)
            wait_until(kcm, lambda: pods_admissible(client), self._timeout,
                  "the default ServiceAccount and kube-root-ca.crt exist")  # fmt: skip
            scheduler_argv = controlplane.scheduler_argv(binaries, kubeconfigs["scheduler"])
            self._spawn(state, "kube-scheduler", scheduler_argv)
            if routed and network is not None:
                spawn = functools.partial(self._spawn, state)
                services.start_services(spawn, layout.root, self.kubeconfig, plan, network, client)
        if self._node:
            dns = ["--cluster-dns", plan.dns_service_ip] if routed else []
            node = self._spawn(state, "local-node", [*self._node_argv(ports), *dns])
            with self.client() as client:
                wait_until(
                    node, lambda: node_ready(client), self._timeout, "the local node is Ready"
                )

    def _routable(self) -> bool:
        """Whether `up` builds the service network: as root, with a node to route to."""
        return self._node and os.geteuid() == 0

    def _node_argv(self, ports: controlplane.Ports) -> list[str]:
        return [
            sys.executable, "-m", "modelship.devcluster.node",
            "--kubeconfig", str(self.node_kubeconfig),
            "--dev-dir", str(self.layout.root),
            "--api-host", ports.api_host,
            "--api-port", str(ports.apiserver),
            *self._node_args,
        ]  # fmt: skip

    def _spawn(self, state: ClusterState, name: str, argv: list[str]) -> ProcessRecord:
        record = processes.spawn(name, argv, self.layout.component_log(name))
        state.processes[name] = record
        state.save(self.layout.state_file)  # saved at once, so `down` finds it if `up` fails
        return record


def _reuse_or_pick_ports(previous: controlplane.Ports | None) -> controlplane.Ports:
    if previous is not None:
        used = (previous.etcd_client, previous.etcd_peer, previous.apiserver)
        if not any(is_listening(port) for port in used):
            return previous
    etcd_client, etcd_peer, apiserver = free_ports(3)
    return controlplane.Ports(etcd_client, etcd_peer, apiserver)
