"""The one small layer through which the operator talks to the Kubernetes API.

Every object is a plain dict, addressed by (group, version, plural): that keeps builders pure and
lets the same five verbs serve our custom resources and the built-in kinds alike. Calls go straight
to the API server (no informer cache), so a decision is always made on current state.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from modelship.operator.kube.resources import Resource

Obj = dict[str, Any]
JsonPatch = list[Obj]  # RFC 6902 operations


class KubeError(RuntimeError):
    """An API call failed; `status` is the HTTP status (0 when none was received)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def _configuration(kubeconfig: str | None) -> client.Configuration:
    """In-cluster configuration when running in a pod, the kubeconfig otherwise."""
    configuration = client.Configuration()
    if kubeconfig is None:
        try:
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
            return configuration
        except config.ConfigException:
            pass
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, client_configuration=configuration
    )
    return configuration


def load_api_client(
    kubeconfig: str | None = None, connections: int | None = None
) -> client.ApiClient:
    """A client of the cluster this runs in (or the kubeconfig's); `connections` is how many
    connections to the API server it keeps for callers in parallel (default: five per CPU)."""
    configuration = _configuration(kubeconfig)
    if connections is not None:
        configuration.connection_pool_maxsize = connections
    return client.ApiClient(configuration)


class Kube:
    """Get, list, create, patch and delete any namespaced object as a dict."""

    def __init__(self, api: client.ApiClient, request_timeout: float = 30.0) -> None:
        self._api = api
        self._timeout = request_timeout
        self._served: dict[str, bool] = {}

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        method_, url, headers, payload, post = self._api.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(
                method_,
                url,
                header_params=headers,
                body=payload,
                post_params=post,
                _request_timeout=self._timeout,
            )
            raw = response.read()  # type: ignore[no-untyped-call]
        except ApiException as exc:
            raise KubeError(exc.status or 0, _reason(exc.body, exc.reason)) from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise KubeError(0, str(exc)) from None
        if not 200 <= response.status < 300:
            raise KubeError(response.status, _reason(raw, response.reason))
        return json.loads(raw) if raw else None

    def served(self, res: Resource, fresh: bool = False) -> bool:
        """Whether the API server serves this group/version (asked once, then remembered;
        `fresh` asks again, for a caller waiting for an API to be installed)."""
        key = res.api_version
        if fresh or key not in self._served:
            try:
                self._call("GET", f"/apis/{key}" if res.group else f"/api/{key}")
                self._served[key] = True
            except KubeError as exc:
                if exc.status != 404:
                    raise
                self._served[key] = False
        return self._served[key]

    def get(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        """The object, or None when there is none (`namespace` None: cluster-scoped)."""
        try:
            result: Obj = self._call("GET", res.path(namespace, name))
            return result
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self,
        res: Resource,
        namespace: str,
        selector: dict[str, str] | None = None,
        fields: dict[str, str] | None = None,
    ) -> list[Obj]:
        """Objects of the namespace matching every label of `selector` and every field of
        `fields` (a field the CRD declares selectable, e.g. `spec.modelRef.name`)."""
        query = []
        if selector:
            query.append(
                ("labelSelector", ",".join(f"{k}={v}" for k, v in sorted(selector.items())))
            )
        if fields:
            query.append(("fieldSelector", ",".join(f"{k}={v}" for k, v in sorted(fields.items()))))
        result = self._call("GET", res.path(namespace), query=query)
        items: list[Obj] = result.get("items", [])
        return items

    def create(self, res: Resource, namespace: str | None, body: Obj) -> Obj:
        """Create a namespaced object (or a cluster-scoped one: `namespace` None)."""
        result: Obj = self._call("POST", res.path(namespace), body=body)
        return result

    def ensure(self, res: Resource, namespace: str, body: Obj) -> tuple[Obj, bool]:
        """Create unless an object of that name exists; returns (object, created)."""
        existing = self.get(res, namespace, body["metadata"]["name"])
        if existing is not None:
            return existing, False
        try:
            return self.create(res, namespace, body), True
        except KubeError as exc:
            if exc.status != 409:
                raise
            current = self.get(res, namespace, body["metadata"]["name"])
            if current is None:
                raise
            return current, False

    def patch(
        self, res: Resource, namespace: str, name: str, patch: Obj, status: bool = False
    ) -> Obj:
        """JSON merge patch of the object, or of its status subresource."""
        path = res.path(namespace, name, "status" if status else None)
        result: Obj = self._call(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )
        return result

    def json_patch(self, res: Resource, namespace: str | None, name: str, ops: JsonPatch) -> Obj:
        """JSON patch (RFC 6902) of the object: list items addressed by index, guarded by
        `test` operations (a cluster-scoped object: `namespace` None)."""
        result: Obj = self._call(
            "PATCH", res.path(namespace, name), body=ops, content_type="application/json-patch+json"
        )
        return result

    def proxy_get(self, namespace: str, pod: str, port: int, path: str) -> Any:
        """GET `path` from a pod through the API server's pod proxy (JSON answers only)."""
        return self._call(
            "GET",
            f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}:{port}/proxy/"
            + path.lstrip("/"),
        )

    def delete(
        self, res: Resource, namespace: str, name: str, propagation: str = "Background"
    ) -> bool:
        """Delete and return True, or False when it was already gone."""
        try:
            self._call(
                "DELETE",
                res.path(namespace, name),
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "propagationPolicy": propagation,
                },
            )
            return True
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise


def _reason(raw: Any, fallback: Any) -> str:
    try:
        return str(json.loads(raw).get("message", fallback))
    except (TypeError, ValueError, AttributeError):
        return str(fallback)
