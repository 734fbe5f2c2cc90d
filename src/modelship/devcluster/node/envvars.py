"""A container's environment, resolved the way a kubelet does it.

Order matters and follows the kubelet: the node's own variables (API server location, the pod's
bind address), then `envFrom`, then `env` in order, each `value` able to refer to earlier
variables with `$(NAME)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelship.devcluster.node.objects import ObjectReader
from modelship.devcluster.node.spec import ConfigError, expand, field_ref

BIND_HOST_ENV = "MODELSHIP_BIND_HOST"


def node_env(api_host: str, api_port: int, pod_ip: str, pod_name: str) -> dict[str, str]:
    """Variables every container gets: in-cluster config and where to listen."""
    return {
        "KUBERNETES_SERVICE_HOST": api_host,
        "KUBERNETES_SERVICE_PORT": str(api_port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(api_port),
        "KUBERNETES_PORT": f"tcp://{api_host}:{api_port}",
        "HOSTNAME": pod_name,
        BIND_HOST_ENV: pod_ip,
    }


async def resolve_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    reader: ObjectReader,
    start: Mapping[str, str],
    pod_ip: str,
    host_ip: str,
) -> dict[str, str]:
    env = dict(start)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = source["configMapRef"]
            data = await reader.configmap(ref["name"], bool(ref.get("optional")))
        elif "secretRef" in source:
            ref = source["secretRef"]
            data = await reader.secret(ref["name"], bool(ref.get("optional")))
        else:
            continue
        for key, raw in (data or {}).items():
            env[prefix + key] = raw.decode(errors="replace")
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(var.get("value", ""), env)
            continue
        resolved = await _value_from(pod, container, var["valueFrom"], reader, pod_ip, host_ip)
        if resolved is not None:
            env[name] = resolved
    return env


async def _value_from(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    source: Mapping[str, Any],
    reader: ObjectReader,
    pod_ip: str,
    host_ip: str,
) -> str | None:
    if "fieldRef" in source:
        return field_ref(pod, source["fieldRef"]["fieldPath"], pod_ip, host_ip)
    for kind in ("configMapKeyRef", "secretKeyRef"):
        if kind in source:
            ref = source[kind]
            optional = bool(ref.get("optional"))
            if kind == "configMapKeyRef":
                data = await reader.configmap(ref["name"], optional)
            else:
                data = await reader.secret(ref["name"], optional)
            if data is None or ref["key"] not in data:
                if optional:
                    return None
                what = "configmap" if kind == "configMapKeyRef" else "secret"
                raise ConfigError(f'couldn\'t find key {ref["key"]} in {what} "{ref["name"]}"')
            return data[ref["key"]].decode(errors="replace")
    if "resourceFieldRef" in source:
        resource = source["resourceFieldRef"]["resource"]  # e.g. limits.cpu
        section, _, name = resource.partition(".")
        quantity = (container.get("resources") or {}).get(section, {}).get(name)
        return str(quantity) if quantity is not None else "0"
    raise ConfigError(f"unsupported valueFrom {sorted(source)}")
