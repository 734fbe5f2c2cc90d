"""The demo's in-cluster client: a restricted pod that asks production by its DNS name."""

from __future__ import annotations

import ast

from modelship.demo.client_pod import client_pod
from modelship.operator.kube.pods import POD_SECURITY, RESTRICTED_CONTAINER_SECURITY

URL = "http://iris.modelship-demo.svc.cluster.local/v2/models/iris/infer"


def test_the_client_pod_is_admissible_under_restricted_and_calls_the_service_name() -> None:
    pod = client_pod("demo-client-1", "modelship:0.1.0", URL, [6.1, 2.8, 4.7, 1.2])
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"] == POD_SECURITY
    (container,) = spec["containers"]
    assert container["securityContext"] == RESTRICTED_CONTAINER_SECURITY
    assert container["image"] == "modelship:0.1.0"
    script = container["command"][2]
    ast.parse(script)  # the row and the URL are rendered into valid Python
    assert repr(URL) in script and "[6.1, 2.8, 4.7, 1.2]" in script
    assert '"shape": [1, 4]' in script
