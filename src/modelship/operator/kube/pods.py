"""The one pod skeleton every pod the operator creates is built on: trainer, dataset probe,
serving stages, canary, acceptance Job, router.

Why one: each of those must meet the `restricted` Pod Security Standard, run the project's image
with `python -m <process>`, take its settings from a contract's environment and reach the catalog
the way the namespace's catalog is reached. Typed once per builder, the copies drifted: the
dataset probe mounted the catalog claim even where the catalog is a registry and no claim exists,
so its pod never started. Pure; every builder composes these and nothing else sets security.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from modelship.contracts.training import TERMINATION_MESSAGE_PATH
from modelship.operator.kube.catalog_access import catalog_access, uses_volume
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
# The image's numeric user (Dockerfile): runAsNonRoot can verify it without reading /etc/passwd.
RUN_AS = 10001
RESTRICTED_CONTAINER_SECURITY: Obj = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS,
    "runAsGroup": RUN_AS,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
POD_SECURITY: Obj = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
# fsGroup only where volumes are mounted: it makes them (the catalog claim, emptyDirs) the
# image's group's, and means nothing to a pod without any.
VOLUME_GROUP: Obj = {"fsGroup": RUN_AS}
SCRATCH = "/tmp"
# How much of the catalog a pod gets: "write" (the trainer publishes), "read" (serving and
# acceptance load a version), "files" (only a catalog volume's files, never registry
# credentials: the dataset probe reads a file:// dataset the trainer would read).
CatalogUse = Literal["write", "read", "files"]


@dataclass(frozen=True)
class PodStorage:
    """The catalog and the scratch directory of one pod: volumes, mounts, environment."""

    catalog_root: str
    volumes: list[Obj] = field(default_factory=list)
    mounts: list[Obj] = field(default_factory=list)
    env: list[Obj] = field(default_factory=list)


def pod_storage(
    settings: OperatorSettings, catalog: CatalogUse | None, scratch: str | None = None
) -> PodStorage:
    """The volumes a pod needs: the catalog as `catalog` says, and `scratch` (a size) at /tmp.

    /tmp is the one writable place on a read-only root filesystem (HOME points there too).
    """
    volumes: list[Obj] = []
    mounts: list[Obj] = []
    env: list[Obj] = []
    root = ""
    if catalog is not None and (catalog != "files" or uses_volume(settings)):
        access = catalog_access(settings, writable=catalog == "write")
        root = access.root
        volumes += access.volumes
        mounts += access.mounts
        env += access.env
    if scratch is not None:
        volumes.append({"name": "tmp", "emptyDir": {"sizeLimit": scratch}})
        mounts.append({"name": "tmp", "mountPath": SCRATCH})
    return PodStorage(root, volumes, mounts, env)


def container(
    name: str,
    module: str,
    settings: OperatorSettings,
    *,
    env: list[Obj],
    resources: Obj,
    storage: PodStorage | None = None,
    runtime_env: list[Obj] | None = None,
    image: str | None = None,
    reports: bool = False,
    **fields: Any,
) -> Obj:
    """A restricted container running `python -m module` from the project's image (or `image`).

    `env` is a contract's environment; the storage's environment, `runtime_env` (values the
    kubelet fills in, such as the downward API's) and HOME follow it. `reports`: the process
    reports through its termination message (a contract read by the operator).
    """
    body: Obj = {
        "name": name,
        "image": image or settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python", "-m", module],
        "env": [
            *env,
            *(storage.env if storage else []),
            *(runtime_env or []),
            {"name": "HOME", "value": SCRATCH},
        ],
        **fields,
        "resources": resources,
        "securityContext": RESTRICTED_CONTAINER_SECURITY,
    }
    if reports:
        body["terminationMessagePath"] = TERMINATION_MESSAGE_PATH
        body["terminationMessagePolicy"] = "FallbackToLogsOnError"
    if storage is not None and storage.mounts:
        body["volumeMounts"] = storage.mounts
    return body


def pod_spec(
    containers: list[Obj],
    *,
    storage: PodStorage | None = None,
    service_account: str = "",
    api_token: bool = False,
    restart_policy: Literal["Never"] | None = None,
    **fields: Any,
) -> Obj:
    """A restricted pod around `containers`. No API token unless the pod calls the API itself
    (`api_token`, the router), then under its own narrowly bound `service_account`."""
    spec: Obj = {}
    if restart_policy is not None:
        spec["restartPolicy"] = restart_policy
    spec["automountServiceAccountToken"] = api_token
    volumes = storage.volumes if storage is not None else []
    spec["securityContext"] = {**POD_SECURITY, **(VOLUME_GROUP if volumes else {})}
    spec.update(fields)
    spec["containers"] = containers
    if volumes:
        spec["volumes"] = volumes
    if service_account:
        spec["serviceAccountName"] = service_account
    return spec
