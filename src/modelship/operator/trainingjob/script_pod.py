"""Pure builder of a script-mode training pod: who sees what, container by container.

The user's code is arbitrary code, so the pod is split where the trust changes (the contract and
the steps are in `modelship.contracts.training_code`):

| container      | image                 | mounts                                       | secret |
|----------------|-----------------------|----------------------------------------------|--------|
| prepare (init) | trainer image         | catalog (ro), ConfigMap, work dirs (rw)      | pull   |
| code (init)    | code.image or trainer | train (ro), code (ro), output (rw), own /tmp | none   |
| trainer        | trainer image         | catalog (rw), holdout (ro), output (ro)      | push   |

Why this split and not one container that drops privileges: the registry Secret is a file and the
catalog a writable volume; any process of a container that mounts them can read or write them,
and a child cannot be given another user without capabilities the restricted profile drops. So
the code container simply never mounts them, gets no catalog environment (no DOCKER_CONFIG) and,
like every trainer pod, no API token. It never mounts the held-out rows either: prepare writes
them to a directory only the publishing container mounts, and that container — Modelship's own
image, never the team's — computes every gated metric.

What is *not* prevented: the code can read its training rows and, without a NetworkPolicy,
send them out; it may reach the dataset's own URI. Honest metrics, not data secrecy, are what
the split guarantees.
"""

from __future__ import annotations

import json
from typing import Any

from modelship.api.v1alpha1 import TrainingCodeSpec, TrainingSnapshot
from modelship.contracts.training import TERMINATION_MESSAGE_PATH, TrainerEnv
from modelship.contracts.training_code import (
    CODE_DIR,
    CODE_FILE,
    CONFIGMAP_DIR,
    HOLDOUT_DIR,
    OUTPUT_DIR,
    TRAIN_DIR,
    CodeRunnerEnv,
)
from modelship.operator.kube.pods import SCRATCH, PodStorage, container, pod_spec, pod_storage
from modelship.operator.settings import OperatorSettings

Obj = dict[str, Any]
WORK_DIR_LIMIT = "1Gi"
# The code container's own /tmp: never shared with the containers that hold credentials.
CODE_SCRATCH = "code-tmp"


def _work(name: str) -> str:
    return f"work-{name}"


def _mount(volume: str, path: str, *, read_only: bool) -> Obj:
    mount: Obj = {"name": volume, "mountPath": path}
    if read_only:
        mount["readOnly"] = True
    return mount


def script_pod(
    meta: Obj, model: str, snapshot: TrainingSnapshot, resources: Obj, settings: OperatorSettings
) -> Obj:
    """The pod spec of one script-mode attempt (prepare -> code -> trainer)."""
    code = snapshot.training.code
    assert code is not None
    catalog = pod_storage(settings, catalog="write", scratch="1Gi")
    volumes = [
        *catalog.volumes,
        *({"name": _work(n), "emptyDir": {"sizeLimit": WORK_DIR_LIMIT}} for n in _WORK_DIRS),
        {"name": CODE_SCRATCH, "emptyDir": {"sizeLimit": WORK_DIR_LIMIT}},
    ]
    prepare_mounts = [
        *({**m, "readOnly": True} if m["name"] != "tmp" else m for m in catalog.mounts),
        *(
            _mount(_work(n), path, read_only=False)
            for n, path in _WORK_DIRS.items()
            if n != "output"  # written by the code step only
        ),
    ]
    if code.config_map is not None:
        volumes.append(_configmap_volume(code))
        prepare_mounts.append(_mount("code-source", CONFIGMAP_DIR, read_only=True))
    trainer_env = TrainerEnv(
        snapshot=json.dumps(snapshot.to_wire(), sort_keys=True),
        catalog_root=catalog.catalog_root,
        namespace=meta["namespace"],
        model_name=model,
        training_job_name=meta["name"],
        allowed_types=list(settings.allowed_artifact_types),
        termination_message_path=TERMINATION_MESSAGE_PATH,
    ).to_env()
    prepare = container(
        "prepare",
        "modelship.training.script.prepare",
        settings,
        env=trainer_env,
        resources=resources,
        storage=PodStorage(catalog.catalog_root, [], prepare_mounts, catalog.env),
        image=snapshot.training.image,
        reports=True,
    )
    runner_env = CodeRunnerEnv(
        entrypoint=code.entrypoint,
        params=code.params,
        timeout_seconds=code.timeout_seconds,
    )
    user_code = container(
        "code",
        "modelship.training.script.runner",
        settings,
        env=runner_env.to_env(),
        resources=resources,
        storage=PodStorage(
            "",
            [],
            [
                _mount(_work("train"), TRAIN_DIR, read_only=True),
                _mount(_work("code"), CODE_DIR, read_only=True),
                _mount(_work("output"), OUTPUT_DIR, read_only=False),
                _mount(CODE_SCRATCH, SCRATCH, read_only=False),
            ],
        ),
        image=code.image or snapshot.training.image,
        reports=True,
    )
    publisher = container(
        "trainer",
        "modelship.training.script.publish",
        settings,
        env=trainer_env,
        resources=resources,
        storage=PodStorage(
            catalog.catalog_root,
            [],
            [
                *catalog.mounts,
                _mount(_work("holdout"), HOLDOUT_DIR, read_only=True),
                _mount(_work("output"), OUTPUT_DIR, read_only=True),
            ],
            catalog.env,
        ),
        image=snapshot.training.image,
        reports=True,
    )
    return pod_spec(
        [publisher],
        storage=PodStorage(catalog.catalog_root, volumes),
        service_account=settings.trainer_service_account,
        restart_policy="Never",
        initContainers=[prepare, user_code],
    )


_WORK_DIRS = {"train": TRAIN_DIR, "holdout": HOLDOUT_DIR, "code": CODE_DIR, "output": OUTPUT_DIR}


def _configmap_volume(code: TrainingCodeSpec) -> Obj:
    """The ConfigMap's one key as CODE_FILE; optional, so a missing ConfigMap or key reaches
    prepare, which fails the run naming them instead of leaving the pod stuck mounting."""
    assert code.config_map is not None
    return {
        "name": "code-source",
        "configMap": {
            "name": code.config_map.name,
            "items": [{"key": code.config_map.key, "path": CODE_FILE}],
            "optional": True,
        },
    }
