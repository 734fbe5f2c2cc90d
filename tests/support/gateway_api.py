"""The Gateway API's CRDs on the cluster under test: present by default, removable for a test.

The local cluster installs the standard channel's CRDs at `up` (devcluster/gatewayapi.py); a test
of what happens where the Gateway API is not installed removes them for its duration and puts
them back, so later tests on the same cluster find them again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modelship.devcluster.crds import CRD_PATH, install_crds, load_crds
from modelship.devcluster.gatewayapi import standard_crds
from modelship.devcluster.gocache import GoBuildSettings
from modelship.devcluster.kubeapi import ApiEndpoint, ApiError, KubeClient


def crds_directory() -> Path:
    return standard_crds(GoBuildSettings.from_environ(os.environ))


@contextmanager
def gateway_api_removed(kubeconfig: Path, timeout: float = 60.0) -> Iterator[None]:
    directory = crds_directory()
    names = [crd["metadata"]["name"] for crd in load_crds(directory)]
    with KubeClient(ApiEndpoint.from_kubeconfig(kubeconfig)) as client:
        for name in names:
            try:
                client.delete(f"{CRD_PATH}/{name}")
            except ApiError as error:
                if error.status != 404:
                    raise
        deadline = time.monotonic() + timeout
        while any(_exists(client, name) for name in names):
            if time.monotonic() > deadline:
                raise TimeoutError("the Gateway API CRDs were not removed")
            time.sleep(0.2)
        try:
            yield
        finally:
            install_crds(client, directory)


def _exists(client: KubeClient, name: str) -> bool:
    try:
        client.get(f"{CRD_PATH}/{name}")
    except ApiError as error:
        if error.status == 404:
            return False
        raise
    return True
