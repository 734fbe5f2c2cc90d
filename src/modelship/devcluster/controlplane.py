"""Command lines of etcd, kube-apiserver, kube-controller-manager and kube-scheduler.

Pure functions, so the flags (and why each is there) are readable and unit-tested in one place.
Every listener binds 127.0.0.1 on a port chosen free at `up`, and every fixed port is switched
off, so two dev clusters can run side by side. The API server binds the host's end of the
cluster's service link instead when there is one (servicenet.py), so kube-proxy in the service
namespace reaches it, and the cluster's Service range comes from its address plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelship.devcluster.binaries import ControlPlaneBinaries
from modelship.devcluster.layout import DevLayout
from modelship.devcluster.pki import Pki
from modelship.devcluster.servicenet import AddressPlan

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMISSION_PLUGINS = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "DefaultStorageClass",
    "DefaultTolerationSeconds",
    "PersistentVolumeClaimResize",
    "ResourceQuota",
    "PodSecurity",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionWebhook",
)
# The local node posts its own status; nothing is there to taint or evict it, so the node
# lifecycle controllers would only mark it NotReady and evict its pods.
CONTROLLERS = "*,-node-lifecycle-controller,-taint-eviction-controller"
# The audit log records the requests of people and operators (who, verb, resource, user agent),
# so tests can show that a standby operator writes nothing and benchmarks can count requests.
# The cluster's own components and the local node are left out: they are most of the traffic.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:kube-controller-manager", "system:apiserver", "modelship-local-node"]
  - level: None
    userGroups: ["system:serviceaccounts:kube-system", "system:nodes"]
  - level: None
    nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/openapi*"]
  - level: Metadata
"""


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    # Where the API server listens: 127.0.0.1, or the host's end of the service link.
    api_host: str = "127.0.0.1"

    @property
    def apiserver_url(self) -> str:
        return f"https://{self.api_host}:{self.apiserver}"


def etcd_argv(binaries: ControlPlaneBinaries, layout: DevLayout, ports: Ports) -> list[str]:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        str(binaries.etcd),
        "--name=modelship-dev",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=modelship-dev={peer}",
        "--initial-cluster-state=new",
        # A dev cluster keeps little; compacting often keeps the data directory small.
        "--auto-compaction-retention=1",
        "--logger=zap",
        "--log-level=warn",
    ]


def apiserver_argv(
    binaries: ControlPlaneBinaries, layout: DevLayout, ports: Ports, plan: AddressPlan
) -> list[str]:
    pki = Pki(layout.pki)
    routed = ports.api_host != "127.0.0.1"
    return [
        str(binaries.kube_apiserver),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        f"--bind-address={ports.api_host}",
        f"--advertise-address={ports.api_host}",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={layout.pki}",
        f"--tls-cert-file={pki.apiserver_cert}",
        f"--tls-private-key-file={pki.apiserver_key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--token-auth-file={pki.token_file}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
        f"--service-cluster-ip-range={plan.service_range}",
        f"--enable-admission-plugins={','.join(ADMISSION_PLUGINS)}",
        # It taints a new Node not-ready until the node lifecycle controller (off, see
        # CONTROLLERS) sees it Ready; here nothing would ever lift it and nothing would schedule.
        "--disable-admission-plugins=TaintNodesByCondition",
        "--allow-privileged=true",
        # `kubectl logs` goes through the API server to the local node's log endpoint.
        f"--kubelet-client-certificate={pki.cert('apiserver-kubelet-client')}",
        f"--kubelet-client-key={pki.key('apiserver-kubelet-client')}",
        f"--kubelet-certificate-authority={pki.ca_cert}",
        "--kubelet-preferred-address-types=InternalIP",
        # With a service link the `kubernetes` Service's endpoint is the API server's address
        # there; 127.0.0.1 cannot be an endpoint of any Service.
        f"--endpoint-reconciler-type={'lease' if routed else 'none'}",
        # Webhooks and aggregated APIs named by `service:` are called at one of the Service's
        # ready endpoints (a pod address on the node's bridge), as on clusters whose control
        # plane runs outside the pod network.
        "--enable-aggregator-routing=true",
        "--profiling=false",
        f"--audit-policy-file={layout.audit_policy}",
        f"--audit-log-path={layout.audit_log}",
        "--audit-log-format=json",
        "--audit-log-maxsize=200",
        "--audit-log-maxbackup=1",
    ]


def controller_manager_argv(
    binaries: ControlPlaneBinaries, layout: DevLayout, kubeconfig: Path, plan: AddressPlan
) -> list[str]:
    pki = Pki(layout.pki)
    return [
        str(binaries.kube_controller_manager),
        f"--kubeconfig={kubeconfig}",
        # No serving endpoint at all: nothing scrapes it, and fixed ports would collide.
        "--secure-port=0",
        "--leader-elect=false",
        f"--controllers={CONTROLLERS}",
        "--use-service-account-credentials=true",
        # Legacy token Secrets (created only on request since 1.24) are signed with this key.
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.ca_cert}",
        f"--cluster-signing-cert-file={pki.ca_cert}",
        f"--cluster-signing-key-file={pki.ca_key}",
        f"--service-cluster-ip-range={plan.service_range}",
        "--cluster-name=modelship-dev",
        "--profiling=false",
    ]


def scheduler_argv(binaries: ControlPlaneBinaries, kubeconfig: Path) -> list[str]:
    """The real scheduler binds pods to the local node (which advertises its capacity)."""
    return [
        str(binaries.kube_scheduler),
        f"--kubeconfig={kubeconfig}",
        # Its own API-server identity suffices: nothing calls its health or metrics endpoint.
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--secure-port=0",
        "--leader-elect=false",
        "--profiling=false",
    ]
