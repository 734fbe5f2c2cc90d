"""Pure translation of a container spec into what the local node executes.

Which images run here, how `command`/`args` become an argv (with Kubernetes' `$(VAR)`
expansion and `python` mapped to the project's interpreter), and the values of downward-API
field references. No I/O, so every rule is unit-tested on its own.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")
_PYTHON_NAMES = re.compile(r"python(3(\.\d+)?)?")


class ConfigError(Exception):
    """A container cannot start yet (missing ConfigMap, unbound claim); retried like a kubelet."""

    reason = "CreateContainerConfigError"


class PermanentPodError(Exception):
    """A pod can never run here (foreign image, unsupported volume, no command)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def image_repository(image: str) -> str:
    """`registry:5000/org/modelship:dev@sha256:..` -> `modelship` (last path part, no tag)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def check_image(image: str, runnable: Sequence[str]) -> None:
    if image_repository(image) not in runnable:
        raise PermanentPodError(
            "ErrImageNotRunnable",
            f'image "{image}" cannot run on the modelship local node: it runs only images of the '
            f"repositories {', '.join(runnable)} (as local processes of the project's Python "
            "environment); use kind or a real cluster for other images",
        )


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: known names are replaced, `$$` escapes, others stay."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR_REF.sub(replace, value)


def venv_bin(python: str = sys.executable) -> Path:
    return Path(python).parent


def build_argv(container: Mapping[str, Any], env: Mapping[str, str], python: str) -> list[str]:
    """command + args, expanded; `python`/`python3` become the project's interpreter."""
    command = [expand(part, env) for part in container.get("command") or []]
    args = [expand(part, env) for part in container.get("args") or []]
    if not command:
        raise PermanentPodError(
            "NoCommand",
            f"container {container.get('name')!r} has no command: the local node does not know "
            "the entrypoint of an image; set `command` (for example [python, -m, ...])",
        )
    if _PYTHON_NAMES.fullmatch(command[0]):
        command[0] = python
    return command + args


def base_env(path: str | None, python: str, extra: Mapping[str, str]) -> dict[str, str]:
    """What every container starts with: PATH with the project's venv first, HOME, extras."""
    return {
        "PATH": f"{venv_bin(python)}:{path or DEFAULT_PATH}",
        "HOME": "/root",
        **extra,
    }


def field_ref(pod: Mapping[str, Any], path: str, pod_ip: str, host_ip: str) -> str:
    """The value of a downward-API `fieldRef.fieldPath` for this pod."""
    metadata = pod.get("metadata", {})
    spec = pod.get("spec", {})
    simple = {
        "metadata.name": metadata.get("name", ""),
        "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": host_ip,
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
    }
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str(metadata.get(match.group(1), {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = metadata.get(path.split(".")[1], {})
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise PermanentPodError("UnsupportedFieldRef", f"fieldRef {path!r} is not supported")
