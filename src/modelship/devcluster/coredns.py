"""CoreDNS for the local cluster: built from its Go module, answering `*.svc.cluster.local`.

Pods resolve Service names the way they do on any cluster: their `/etc/resolv.conf` names the
`kube-dns` Service's ClusterIP, kube-proxy sends the query to CoreDNS, and CoreDNS's `kubernetes`
plugin answers from the API server. CoreDNS runs beside the control plane (not as a pod) on the
host end of the cluster's service link (`servicenet.py`).

The build is a throw-away module whose `main` registers five plugins (bind, errors, log, cache,
kubernetes) and runs CoreDNS's own `coremain`, the way CoreDNS documents building with a
chosen plugin set: the full binary would pull every cloud provider's SDK for plugins this cluster
never uses. No `forward` plugin is built in: a name outside the cluster gets SERVFAIL, so no query
ever leaves the machine.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelship.devcluster.gocache import (
    GoBuildSettings,
    cached_manifest,
    entry_dir,
    install,
    new_staging,
)
from modelship.devcluster.gotool import require_go, start_build
from modelship.devcluster.progress import Progress, print_progress

MODULE = "github.com/coredns/coredns"
# The newest release the module proxy served on 2026-12-07; its go.mod needs Go 1.26.0.
VERSION = "1.15.0"
REQUIRED_GO = "1.26.0"
CLUSTER_DOMAIN = "cluster.local"
# In CoreDNS's own plugin order (plugin.cfg): a server block runs its plugins in this order.
PLUGINS = ("bind", "errors", "log", "cache", "kubernetes")


def wrapper_gomod(version: str = VERSION) -> str:
    return "\n".join(
        [
            f"// Written by modelship to build CoreDNS v{version}; safe to delete.",
            "module local/modelship-coredns-build",
            "",
            f"go {REQUIRED_GO}",
            "",
            f"require {MODULE} v{version}",
            "",
        ]
    )


def wrapper_main(plugins: tuple[str, ...] = PLUGINS) -> str:
    imports = "\n".join(f'\t_ "{MODULE}/plugin/{name}"' for name in plugins)
    directives = ", ".join(f'"{name}"' for name in plugins)
    return f"""// Written by modelship: CoreDNS with only the plugins the local cluster uses.
package main

import (
\t"{MODULE}/core/dnsserver"
\t"{MODULE}/coremain"
{imports}
)

func init() {{
\tdnsserver.Directives = []string{{{directives}}}
}}

func main() {{
\tcoremain.Run()
}}
"""


def coredns_binary(settings: GoBuildSettings, progress: Progress = print_progress) -> Path:
    """The cached CoreDNS binary, built from the module proxy the first time (about 2 minutes)."""
    entry = entry_dir(settings.cache_root, "coredns", VERSION)
    if cached_manifest(entry, ["coredns"]) is not None:
        return entry / "bin" / "coredns"
    build = start_build(entry, settings, progress)
    go_version = require_go(settings.go, REQUIRED_GO, f"CoreDNS {VERSION}", build.env)
    progress(f"building CoreDNS {VERSION} from its Go module into {entry} (log: {build.log})")
    staging = new_staging(entry)
    try:
        module = staging / "module"
        module.mkdir()
        (staging / "bin").mkdir()
        (module / "go.mod").write_text(wrapper_gomod())
        (module / "main.go").write_text(wrapper_main())
        build.run([settings.go, "mod", "tidy"], module, "downloading the modules of CoreDNS")
        build.go_build(module, ".", staging / "bin" / "coredns", "-s -w", "coredns")
        install(staging, entry, {"coredns": VERSION, "go": go_version, "components": ["coredns"]})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"CoreDNS {VERSION} ready in {entry / 'bin'}")
    return entry / "bin" / "coredns"


def corefile(listen: str, kubeconfig: Path, context: str) -> str:
    """Cluster names from the API server; every other name fails here, never forwarded."""
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 {{
    bind {listen}
    errors
    cache 5
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa {{
        kubeconfig {kubeconfig} {context}
        pods insecure
    }}
}}
.:53 {{
    bind {listen}
    errors
}}
"""


def coredns_argv(binary: Path, corefile_path: Path) -> list[str]:
    return [str(binary), "-conf", str(corefile_path)]


def pod_resolv_conf(pod: Mapping[str, Any], cluster_dns: str | None) -> str | None:
    """A pod's /etc/resolv.conf as a kubelet writes it for the pod's `dnsPolicy`, or None to
    keep the machine's (`Default`, and every policy on a cluster without DNS)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    host_network = bool(spec.get("hostNetwork"))
    config = spec.get("dnsConfig") or {}
    if policy == "None":
        nameservers, searches = list(config.get("nameservers") or []), []
    elif cluster_dns is None or policy == "Default":
        return None
    elif policy == "ClusterFirst" and host_network:
        return None  # a host-network pod keeps the host's resolver unless it asks otherwise
    else:
        namespace = pod["metadata"]["namespace"]
        nameservers = [cluster_dns]
        searches = [f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN]
    searches += list(config.get("searches") or [])
    options = {"ndots": "5"} if policy != "None" else {}
    for option in config.get("options") or []:
        options[str(option["name"])] = str(option.get("value", ""))
    lines = [f"search {' '.join(searches)}"] if searches else []
    lines += [f"nameserver {server}" for server in nameservers]
    if options:
        rendered = [f"{k}:{v}" if v else k for k, v in options.items()]
        lines.append(f"options {' '.join(rendered)}")
    return "\n".join(lines) + "\n"
