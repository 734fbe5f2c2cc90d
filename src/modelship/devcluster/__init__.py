"""The local cluster: a real Kubernetes control plane and a local node, without containers.

`DevCluster` starts etcd, kube-apiserver and kube-controller-manager as local processes (so the
Job, ReplicaSet, Deployment and garbage-collection controllers are the real ones) plus the local
node agent, which runs the project's own pods as local processes. `make cluster-up`, the
`modelship dev` command and the integration tests all use it.
"""

from modelship.devcluster.binaries import BinariesError, ControlPlaneBinaries, resolve_binaries
from modelship.devcluster.cluster import DevCluster
from modelship.devcluster.layout import DevLayout, default_dev_dir
from modelship.devcluster.readiness import DevClusterError

__all__ = [
    "BinariesError",
    "ControlPlaneBinaries",
    "DevCluster",
    "DevClusterError",
    "DevLayout",
    "default_dev_dir",
    "resolve_binaries",
]
