"""How the pods of a namespace reach the catalog: a volume in the namespace, or a registry.

Pure: the training and serving builders ask here for the catalog root to pass, and the volumes,
mounts and environment that go with it. With a registry (`catalog_uri = oci://...`) no volume is
mounted and no claim is created: trainers push and serving/acceptance pods pull by digest into
their own `emptyDir`. Registry credentials are a `kubernetes.io/dockerconfigjson` Secret *named*
in the settings and mounted where every registry client looks (`$DOCKER_CONFIG/config.json`);
the operator never reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
CREDENTIALS_DIR = "/var/run/modelship/registry"


@dataclass(frozen=True)
class CatalogAccess:
    root: str
    volumes: list[Obj] = field(default_factory=list)
    mounts: list[Obj] = field(default_factory=list)
    env: list[Obj] = field(default_factory=list)


def uses_volume(settings: OperatorSettings) -> bool:
    """Whether the namespace's catalog PersistentVolumeClaim is needed at all."""
    return not settings.catalog_uri


def catalog_access(settings: OperatorSettings, *, writable: bool) -> CatalogAccess:
    if uses_volume(settings):
        claim: Obj = {"claimName": settings.catalog_claim}
        mount: Obj = {"name": "catalog", "mountPath": settings.catalog_mount_path}
        if not writable:
            claim["readOnly"] = True
            mount["readOnly"] = True
        return CatalogAccess(
            root=settings.catalog_mount_path,
            volumes=[{"name": "catalog", "persistentVolumeClaim": claim}],
            mounts=[mount],
        )
    secret = settings.catalog_credentials_secret
    if not secret:
        return CatalogAccess(root=settings.catalog_uri)
    return CatalogAccess(
        root=settings.catalog_uri,
        volumes=[
            {
                "name": "registry-credentials",
                "secret": {
                    "secretName": secret,
                    "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                },
            }
        ],
        mounts=[{"name": "registry-credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True}],
        env=[{"name": "DOCKER_CONFIG", "value": CREDENTIALS_DIR}],
    )
