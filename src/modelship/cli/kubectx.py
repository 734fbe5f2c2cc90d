"""The namespace `approve` and `status` act in when none is given: the kubeconfig's, as kubectl."""

from __future__ import annotations


def current_namespace(kubeconfig: str | None) -> str:
    """The namespace of the kubeconfig's current context, `default` when it names none."""
    from kubernetes import config

    try:
        _, context = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        return str(context.get("context", {}).get("namespace") or "default")
    except (config.ConfigException, OSError):
        return "default"
