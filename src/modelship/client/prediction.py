"""Predictions from a stage's pod, for `Client.predict`: the v2 request, the pod, the answer.

A notebook's rows go to one ready pod of the stage over the Open Inference Protocol, in the shape
the server and MLServer's pandas codec agree on (`infer_request`). Apart from the rest of the
client because this is the one part that talks to the inference server rather than the API
server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from kubernetes import client

SERVING_PORT = 8080  # the inference server's port in every stage pod (see serving settings)


def ready_pod_ips(pods: Sequence[client.V1Pod]) -> list[str]:
    """The addresses of the pods that are Ready and not being deleted."""
    ready: list[str] = []
    for pod in pods:
        status, meta = pod.status, pod.metadata
        if status is None or meta is None or not status.pod_ip or meta.deletion_timestamp:
            continue
        if any(c.type == "Ready" and c.status == "True" for c in status.conditions or []):
            ready.append(status.pod_ip)
    return ready


def post_infer(
    pod_ip: str, model: str, rows: Sequence[Sequence[float]] | Mapping[str, Sequence[Any]]
) -> list[Any]:
    """The `predict` output of `model` on the pod at `pod_ip` for `rows`."""
    url = f"http://{pod_ip}:{SERVING_PORT}/v2/models/{model}/infer"
    answer = httpx.post(url, json=infer_request(rows), timeout=30)
    answer.raise_for_status()
    outputs = answer.json()["outputs"]
    predict = next(o for o in outputs if o["name"] == "predict")
    return list(predict["data"])


def infer_request(rows: Sequence[Sequence[float]] | Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """The v2 request for `rows`: one [n, k] FP64 tensor for rows of numbers; for columns by
    name (typed features) one [n] tensor per column, FP64 when it holds numbers and BYTES
    otherwise, None as JSON null (missing), as MLServer's pandas codec sends a table."""
    if isinstance(rows, Mapping):
        inputs = []
        for name, values in rows.items():
            # FP64 when it holds numbers; BYTES for text, and for a column that is all None
            # (the server reads null as missing in BYTES for numeric and categorical alike).
            numbers = any(isinstance(v, int | float) for v in values)
            text = not numbers or any(isinstance(v, str) for v in values)
            inputs.append(
                {
                    "name": name,
                    "shape": [len(values)],
                    "datatype": "BYTES" if text else "FP64",
                    "data": list(values),
                }
            )
        return {"inputs": inputs, "parameters": {"content_type": "pd"}}
    data = [float(value) for row in rows for value in row]
    return {
        "inputs": [
            {"name": "input", "shape": [len(rows), len(rows[0])], "datatype": "FP64", "data": data}
        ]
    }
