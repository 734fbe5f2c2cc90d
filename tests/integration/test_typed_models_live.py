"""Typed features on the local cluster, for each tree library: issue 24's first "Done when".

A CSV with numeric, categorical and missing cells (the churn generator's) is served over http from
this process; three Models train on it with `hist_gradient_boosting`, `xgboost` and `lightgbm`,
concurrently, in real trainer pods under the restricted Pod Security Standard. Each version goes
through the test stage and acceptance, is approved and reaches production; then Triton's own
clients (HTTP JSON, HTTP binary, gRPC) send typed rows, one tensor per feature, to a production
pod and get exactly what the version's estimator, loaded from the registry catalog by digest and
called in this process on the same rows, predicts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http

from modelship.catalog import OciCatalog, open_catalog
from modelship.devcluster.cluster import DevCluster
from modelship.operator.deployment.builders.stages import GRPC_PORT
from modelship.operator.kube.client import Kube
from modelship.operator.kube.resources import MODEL_DEPLOYMENTS, MODELS, TRAINING_JOBS
from modelship.training import synthetic
from support.factories import API_VERSION
from support.live import SERVING_PORT, approve, awaiting_approval, pod_ips, wait_for_status
from support.operator import OperatorProcess, running_operator
from support.typed import FEATURES, in_process, sample_rows

pytestmark = pytest.mark.integration

ALGORITHMS = {
    "hist_gradient_boosting": {"max_iter": 40},
    "xgboost": {"n_estimators": 40, "max_depth": 4},
    "lightgbm": {"n_estimators": 40, "num_leaves": 15},
}
CATEGORICAL = ("city", "plan", "has_card")


@pytest.fixture(scope="module")
def catalog_uri(dev_cluster: DevCluster) -> str:
    return dev_cluster.catalog_uri


@pytest.fixture(scope="module")
def operator(
    cluster_kubeconfig: Path, catalog_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator as a local process, its catalog the cluster's registry (versions are pulled
    by digest, here too)."""
    yield from running_operator(
        cluster_kubeconfig,
        tmp_path_factory,
        rollout_deadline_seconds="120",
        catalog_uri=catalog_uri,
    )


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def dataset_url(tmp_path_factory: pytest.TempPathFactory, host_for_pods: str) -> Iterator[str]:
    """The churn table as a CSV over http, where the trainer pods reach this machine."""
    root = tmp_path_factory.mktemp("typed-dataset")
    assert synthetic.main([str(root / "churn.csv"), "--rows", "900", "--seed", "5"]) == 0
    text = (root / "churn.csv").read_text()
    assert ",," in text  # gaps in the CSV itself, not only on the wire
    server = ThreadingHTTPServer((host_for_pods, 0), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{host_for_pods}:{server.server_address[1]}/churn.csv"
    server.shutdown()


def typed_model(name: str, algorithm: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "task": "classification",
            "dataset": {
                "uri": url,
                "target": synthetic.TARGET,
                "features": FEATURES,
                "missingValues": ["", "NA", "?"],
            },
            "algorithm": {"name": algorithm, "params": ALGORITHMS[algorithm]},
            "evaluation": {
                "testFraction": 0.25,
                "seed": 3,
                "gates": [{"metric": "roc_auc", "min": 0.65}],
            },
            "training": {"timeoutSeconds": 600, "maxAttempts": 2},
        },
    }


def typed_deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "modelRef": {"name": name},
            "test": {"replicas": 1, "acceptance": {"minAccuracy": 0.6, "maxLatencyMs": 2000}},
            "production": {"replicas": 1},
        },
    }


def model_name(algorithm: str) -> str:
    return "churn-" + algorithm.replace("_", "-")


def arrays(rows: dict[str, list[Any]]) -> dict[str, np.ndarray[Any, Any]]:
    """The rows as numpy, as a pandas user hands them to Triton's client ("" = missing)."""
    return {
        name: (
            np.array(["" if v is None else v for v in values], dtype=object)
            if name in CATEGORICAL
            else np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        )
        for name, values in rows.items()
    }


def triton_http_predictions(
    address: str, model: str, rows: dict[str, list[Any]], *, binary: bool
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], dict[str, str]]:
    client = triton_http.InferenceServerClient(address)
    try:
        inputs = []
        for name, values in arrays(rows).items():
            tensor = triton_http.InferInput(
                name, [len(values)], "BYTES" if values.dtype == object else "FP64"
            )
            tensor.set_data_from_numpy(values, binary_data=binary)
            inputs.append(tensor)
        outputs = [triton_http.InferRequestedOutput(n, binary_data=binary)
                   for n in ("predict", "predict_proba")]  # fmt: skip
        result = client.infer(model, inputs, outputs=outputs)
        metadata = client.get_model_metadata(model)
        datatypes = {i["name"]: i["datatype"] for i in metadata["inputs"]}
        return result.as_numpy("predict"), result.as_numpy("predict_proba"), datatypes
    finally:
        client.close()


def triton_grpc_predictions(
    address: str, model: str, rows: dict[str, list[Any]]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    client = triton_grpc.InferenceServerClient(address)
    try:
        inputs = []
        for name, values in arrays(rows).items():
            tensor = triton_grpc.InferInput(
                name, [len(values)], "BYTES" if values.dtype == object else "FP64"
            )
            tensor.set_data_from_numpy(values)
            inputs.append(tensor)
        outputs = [triton_grpc.InferRequestedOutput(n) for n in ("predict", "predict_proba")]
        result = client.infer(model, inputs, outputs=outputs)
        return result.as_numpy("predict"), result.as_numpy("predict_proba")
    finally:
        client.close()


def serving(status: dict[str, Any]) -> bool:
    production = status.get("production") or {}
    return bool(status.get("phase") == "Serving" and production.get("readyReplicas") == 1)


@pytest.mark.timeout(1800)
def test_three_tree_libraries_train_on_typed_rows_and_serve_them_to_triton_clients(
    operator: OperatorProcess,
    kube: Kube,
    namespace: str,
    dataset_url: str,
    catalog_uri: str,
    tmp_path: Path,
) -> None:
    names = {algorithm: model_name(algorithm) for algorithm in ALGORITHMS}
    for algorithm, name in names.items():
        kube.create(MODELS, namespace, typed_model(name, algorithm, dataset_url))
        kube.create(MODEL_DEPLOYMENTS, namespace, typed_deployment(name))

    # every version trains once, passes its gate, the test stage and acceptance on typed rows
    for algorithm, name in names.items():
        status = wait_for_status(
            kube, MODEL_DEPLOYMENTS, namespace, name, awaiting_approval(1), 900,
            describe=operator.tail,
        )  # fmt: skip
        assert status["test"]["passed"] is True, (algorithm, status["test"])
        checks = {c["name"]: c for c in status["test"]["report"]["checks"]}
        assert checks["identity"]["passed"] and checks["accuracy"]["value"] >= 0.6, checks
        (job,) = [t for t in kube.list(TRAINING_JOBS, namespace)
                  if t["spec"]["modelRef"]["name"] == name]  # fmt: skip
        assert job["status"]["phase"] == "Succeeded" and job["status"]["attempts"] == 1
        assert job["status"]["gates"][0]["passed"] is True

    for name in names.values():
        approve(kube, namespace, name)
    production = {
        name: wait_for_status(
            kube, MODEL_DEPLOYMENTS, namespace, name, serving, 600, describe=operator.tail
        )["production"]
        for name in names.values()
    }

    catalog = open_catalog(catalog_uri)
    assert isinstance(catalog, OciCatalog)
    catalog.pull_dir = tmp_path
    rows = sample_rows(24)  # gaps, an unseen city and the missing vocabulary on the wire
    json_rows = {**rows, "age": [30.0 if v is None else v for v in rows["age"]]}  # JSON has no NaN
    for algorithm, name in names.items():
        version = catalog.open_verified(
            namespace, name, 1, production[name]["digest"], pinned=production[name]["artifact"]
        )
        if algorithm != "hist_gradient_boosting":
            assert version.metadata.framework is not None
            assert version.metadata.framework.name == algorithm
        (ip,) = pod_ips(kube, namespace, name, "production", version=1, ready=True)
        labels, proba = in_process(version, rows)
        assert len(set(labels.tolist())) == 2, (algorithm, labels)  # both classes are predicted

        predicted, probabilities, datatypes = triton_http_predictions(
            f"{ip}:{SERVING_PORT}", name, rows, binary=True
        )
        assert predicted.tolist() == labels.tolist(), algorithm
        np.testing.assert_allclose(probabilities, proba, rtol=1e-6, err_msg=algorithm)
        assert datatypes == {
            "age": "FP64", "income": "FP64", "tenure": "FP64",
            "city": "BYTES", "plan": "BYTES", "has_card": "BYTES",
        }  # fmt: skip

        predicted, probabilities, _ = triton_http_predictions(
            f"{ip}:{SERVING_PORT}", name, json_rows, binary=False
        )
        labels_json, proba_json = in_process(version, json_rows)
        assert predicted.tolist() == labels_json.tolist(), algorithm
        np.testing.assert_allclose(probabilities, proba_json, rtol=1e-6, err_msg=algorithm)

        predicted, probabilities = triton_grpc_predictions(f"{ip}:{GRPC_PORT}", name, rows)
        assert predicted.tolist() == labels.tolist(), algorithm
        np.testing.assert_allclose(probabilities, proba, rtol=1e-6, err_msg=algorithm)
