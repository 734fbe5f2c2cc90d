"""The demo's last prediction: from a pod, by the production Service's DNS name.

A client inside the cluster does not know pod addresses or ClusterIPs: it asks for
`iris.<namespace>.svc.cluster.local`, the cluster's DNS answers with the Service's ClusterIP and
kube-proxy picks a ready production pod. The client pod runs under the namespace's `restricted`
Pod Security level, with the image the operator runs.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from modelship.demo.model_steps import NAMESPACE
from modelship.demo.narrator import DemoError, Narrator
from modelship.operator.kube.client import Kube
from modelship.operator.kube.pods import POD_SECURITY, RESTRICTED_CONTAINER_SECURITY
from modelship.operator.kube.resources import PODS

TIMEOUT_SECONDS = 120
SCRIPT = """
import json, urllib.request
body = json.dumps({"inputs": [{"name": "input", "shape": [1, %(width)d], "datatype": "FP64",
                               "data": %(row)s}]}).encode()
request = urllib.request.Request(%(url)r, data=body, headers={"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(request, timeout=20))
predict = next(o for o in answer["outputs"] if o["name"] == "predict")["data"][0]
with open("/dev/termination-log", "w") as out:
    out.write(json.dumps({"predict": predict, "version": answer.get("model_version")}))
"""


def client_pod(
    name: str, image: str, url: str, row: list[float], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A pod that POSTs one row to `url` and writes the `predict` output and the version that
    answered to its termination message (how the caller reads the answer back: no logs API)."""
    script = SCRIPT % {"width": len(row), "row": json.dumps(row), "url": url}
    container = {"name": "client", "image": image, "command": ["python", "-c", script],
                 "securityContext": RESTRICTED_CONTAINER_SECURITY}  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": POD_SECURITY,
            "containers": [container],
        },
    }


def predict_from_pod(kube: Kube, say: Narrator, row: list[float]) -> None:
    say.step("Prediction from a pod, by the Service's DNS name")
    selector = {"modelship.io/deployment": "iris", "modelship.io/stage": "production"}
    pods = kube.list(PODS, NAMESPACE, selector)
    if not pods:
        raise DemoError("no production pod to take the image from")
    image = pods[0]["spec"]["containers"][0]["image"]
    url = f"http://iris.{NAMESPACE}.svc.cluster.local/v2/models/iris/infer"
    name = f"demo-client-{uuid.uuid4().hex[:6]}"
    demo = {"app.kubernetes.io/part-of": "modelship-demo"}
    kube.create(PODS, NAMESPACE, client_pod(name, image, url, row, demo))
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        pod = kube.get(PODS, NAMESPACE, name) or {}
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            break
        if time.monotonic() > deadline:
            raise DemoError(f"pod {name} did not finish calling {url} in {TIMEOUT_SECONDS}s")
        time.sleep(1)
    terminated = pod["status"]["containerStatuses"][0]["state"].get("terminated") or {}
    kube.delete(PODS, NAMESPACE, name)
    if phase != "Succeeded":
        raise DemoError(f"pod {name} could not call {url}: {terminated.get('message', '')}")
    answer = json.loads(terminated["message"])
    say.say(f"pod {name}: POST {url}")
    say.say(f"  input {row} -> class {answer['predict']} (version {answer['version']})")
