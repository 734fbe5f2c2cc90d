"""The leader keeps the webhook's certificates: the Secret, and the caBundle of both configurations.

Without cert-manager nobody else would: `manifests/default` ships the configurations with an
empty caBundle, so every write of a modelship Deployment would be refused. The leader (this
module's startup handler runs after the election's) checks every `admission_reload_seconds`:
it reads both configurations and the Secret, moves the Secret one step (rotation.py), writes it
with the resourceVersion it read (a write based on a stale read fails and is retried on the
next check), and then sets the Secret's bundle as caBundle of every webhook that calls our
Service (a JSON patch per configuration, each item guarded by a `test` of its name).

Hands off, touching neither the Secret nor the configurations, when cert-manager manages them:
either configuration carries `cert-manager.io/inject-ca-from`, or the Secret was issued by
cert-manager (`cert-manager.io/certificate-name`). A Secret of that name that neither this
operator nor cert-manager wrote is left alone too (someone provides the pair and the caBundle).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import logging
from dataclasses import dataclass
from typing import Any

import kopf

from modelship.operator.admission.authority import (
    fingerprint,
    join_bundle,
    service_names,
    split_bundle,
)
from modelship.operator.admission.rotation import (
    MANAGED_BY,
    RotationPolicy,
    SecretError,
    WebhookTLS,
    parse_secret,
    plan,
    secret_body,
)
from modelship.operator.kube.client import Kube, KubeError, load_api_client
from modelship.operator.kube.resources import (
    MUTATING_WEBHOOKS,
    SECRETS,
    VALIDATING_WEBHOOKS,
    Resource,
)
from modelship.operator.settings import OperatorSettings

log = logging.getLogger("modelship.admission")
Obj = dict[str, Any]
INJECT_CA_FROM = "cert-manager.io/inject-ca-from"
ISSUED_BY_CERT_MANAGER = "cert-manager.io/certificate-name"


def cert_manager_manages(configurations: list[Obj], secret: Obj | None) -> bool:
    annotated = any(
        INJECT_CA_FROM in ((c.get("metadata") or {}).get("annotations") or {})
        for c in configurations
    )
    issued = ISSUED_BY_CERT_MANAGER in (
        ((secret or {}).get("metadata") or {}).get("annotations") or {}
    )
    return annotated or issued


def configuration_resource(kind: str) -> Resource:
    """The resource of a webhook configuration kind (one function, so the RBAC scan of
    tests/support/rbac.py reads which resources the calls below address)."""
    return MUTATING_WEBHOOKS if kind == MUTATING_WEBHOOKS.kind else VALIDATING_WEBHOOKS


CONFIGURATION_KINDS = (MUTATING_WEBHOOKS.kind, VALIDATING_WEBHOOKS.kind)


def ours(secret: Obj) -> bool:
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in MANAGED_BY.items())


@dataclass(frozen=True)
class Target:
    """One webhook that calls our Service: where its caBundle is in which configuration."""

    kind: str
    configuration: str
    index: int
    name: str
    ca_bundle: bytes


def targets(config: Obj, service: str, namespace: str) -> list[Target]:
    """The webhooks of a configuration that call `service` in `namespace` (others are not ours
    to trust for: a webhook pointed elsewhere by URL keeps its caBundle)."""
    found = []
    for index, hook in enumerate(config.get("webhooks") or []):
        client = hook.get("clientConfig") or {}
        ref = client.get("service") or {}
        if ref.get("name") == service and ref.get("namespace") == namespace:
            try:
                bundle = base64.b64decode(client.get("caBundle") or "", validate=True)
            except (binascii.Error, ValueError):
                bundle = b""
            name = config["metadata"]["name"]
            found.append(Target(config["kind"], name, index, hook["name"], bundle))
    return found


def trusted_by_all(found: list[Target]) -> tuple[bytes, ...]:
    """The CAs every one of the webhooks trusts (unparseable bundles trust nothing)."""
    common: dict[str, bytes] | None = None
    for target in found:
        try:
            cas = {fingerprint(ca): ca for ca in split_bundle(target.ca_bundle)}
        except ValueError:
            cas = {}
        common = cas if common is None else {k: v for k, v in common.items() if k in cas}
    return tuple((common or {}).values())


def injection(found: list[Target], bundle: bytes) -> dict[tuple[str, str], list[Obj]]:
    """JSON patches that set `bundle` where a webhook's caBundle differs, per configuration."""
    encoded = base64.b64encode(bundle).decode()
    patches: dict[tuple[str, str], list[Obj]] = {}
    for target in found:
        if target.ca_bundle == bundle:
            continue
        path = f"/webhooks/{target.index}"
        patches.setdefault((target.kind, target.configuration), []).extend(
            [
                {"op": "test", "path": f"{path}/name", "value": target.name},
                {"op": "add", "path": f"{path}/clientConfig/caBundle", "value": encoded},
            ]
        )
    return patches


class CertificateKeeper:
    """One check at a time (`check`), from the leader only."""

    def __init__(self, kube: Kube, settings: OperatorSettings) -> None:
        self.kube = kube
        self.namespace = settings.admission_namespace
        self.secret = settings.admission_secret
        self.service = settings.admission_service
        self.configurations = settings.admission_configurations
        self.policy = RotationPolicy(
            names=service_names(settings.admission_service, settings.admission_namespace),
            lifetime=datetime.timedelta(seconds=settings.admission_certificate_lifetime_seconds),
            rotate_before=datetime.timedelta(seconds=settings.admission_rotate_before_seconds),
            propagation=datetime.timedelta(seconds=settings.admission_propagation_seconds),
        )
        self._said = ""

    def _say(self, text: str) -> None:
        """Log a hands-off reason once, not on every check."""
        if text != self._said:
            log.info(text)
            self._said = text

    def check(self, now: datetime.datetime | None = None) -> WebhookTLS | None:
        """Move the Secret one step and inject its bundle; the state kept (None: hands off)."""
        now = now or datetime.datetime.now(datetime.UTC)
        configs = [
            {"kind": kind, **config}
            for kind in CONFIGURATION_KINDS
            if (config := self.kube.get(configuration_resource(kind), None, self.configurations))
        ]
        secret = self.kube.get(SECRETS, self.namespace, self.secret)
        if cert_manager_manages(configs, secret):
            self._say("webhook certificates: cert-manager manages them; the operator keeps off")
            return None
        if secret is not None and not ours(secret):
            where = f"{self.namespace}/{self.secret}"
            self._say(
                f"webhook certificates: Secret {where} was not written by the operator; "
                "it is served as it is and not rotated"
            )
            return None
        found = [t for c in configs for t in targets(c, self.service, self.namespace)]
        state: WebhookTLS | None = None
        if secret is not None:
            try:
                state = parse_secret(secret)
            except SecretError as exc:
                log.warning("webhook Secret %s/%s is damaged (%s): issuing a new pair",
                            self.namespace, self.secret, exc)  # fmt: skip
        wanted = plan(state, now, self.policy, trusted_by_all(found), vacuous=not found)
        if wanted != state:
            self._write(secret, wanted)
        for (kind, name), ops in injection(found, join_bundle(wanted.bundle)).items():
            self.kube.json_patch(configuration_resource(kind), None, name, ops)
            log.info("webhook configuration %s/%s trusts %d CA(s) now",
                     kind, name, len(wanted.bundle))  # fmt: skip
        self._said = ""
        return wanted

    def _write(self, secret: Obj | None, state: WebhookTLS) -> None:
        body = secret_body(self.secret, self.namespace, state)
        if secret is None:
            annotations = body["metadata"]["annotations"]
            body["metadata"]["annotations"] = {k: v for k, v in annotations.items() if v}
            self.kube.create(SECRETS, self.namespace, body)
            log.info("webhook Secret %s/%s created", self.namespace, self.secret)
            return
        version = (secret.get("metadata") or {}).get("resourceVersion")
        if version is not None:
            body["metadata"]["resourceVersion"] = version
        # Keys of a damaged or older layout that the new state does not have are removed.
        body["data"] = {**{k: None for k in secret.get("data") or {}}, **body["data"]}
        body.pop("type")  # immutable; ours is Opaque since it was created
        self.kube.patch(SECRETS, self.namespace, self.secret, body)
        log.info("webhook Secret %s/%s: %s", self.namespace, self.secret, describe(state))


def describe(state: WebhookTLS) -> str:
    if state.next is not None:
        trusted = "trusted" if state.trusted_since else "waiting to be trusted"
        return f"new pair staged ({trusted}), bundle of {len(state.bundle)} CA(s)"
    assert state.current is not None
    return f"serving a pair valid until {state.current.not_after:%Y-%m-%dT%H:%M:%SZ}"


async def keep(keeper: CertificateKeeper, interval: float) -> None:
    """Check forever; a failed check (API error, a conflicting write) is retried next time."""
    while True:
        try:
            await asyncio.to_thread(keeper.check)
        except KubeError as exc:
            log.warning("webhook certificates not checked: %s", exc)
        await asyncio.sleep(interval)


@kopf.on.startup()
async def keep_webhook_certificates(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Registered after the election (operator/__init__.py): only the leader gets here."""
    settings = OperatorSettings()
    if not (settings.admission_port and settings.admission_secret):
        return
    if not settings.admission_manage_certificates:
        logger.info("webhook certificates are provided by someone else (manage: false)")
        return
    keeper = CertificateKeeper(Kube(load_api_client()), settings)
    task = asyncio.create_task(keep(keeper, settings.admission_reload_seconds))
    memo.certificate_keeper = (keeper, task)


@kopf.on.cleanup()
async def stop_keeping_webhook_certificates(memo: kopf.Memo, **_: Any) -> None:
    kept: tuple[CertificateKeeper, asyncio.Task[None]] | None = getattr(
        memo, "certificate_keeper", None
    )
    if kept is not None:
        kept[1].cancel()
        kept[0].kube.close()
        memo.certificate_keeper = None
