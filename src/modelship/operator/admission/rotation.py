"""When the webhook's certificates are issued, trusted, served and retired (pure: no I/O).

The state lives in one Secret in the operator's namespace (`WebhookTLS`, layout below) and the
leader moves it one step per check (`plan`), so no call to the webhook ever fails on a
certificate:

1. *Staged*: a new pair (`next`) is issued and its CA added to the bundle; replicas keep
   serving the current pair. The leader then injects the bundle into the webhook configurations.
2. *Trusted*: once every webhook that calls our Service trusts the new CA, the time is noted,
   and the pair waits `propagation` more (the API servers' view of the configurations follows
   with a lag).
3. *Promoted*: the new pair becomes the current one; each replica serves it from its next
   reload. The old CA stays in the bundle until it expires, `rotate_before` later, so replicas
   not reloaded yet are still trusted.

A first start serves its pair at once when the configurations trust no CA yet (no call can
succeed before, so none can be broken); when they do (the Secret was deleted, replicas still
serve its pair), it takes the same path without a current pair, keeping the CAs trusted.

Secret layout, cert-manager's names where they mean the same: `tls.crt`/`tls.key`/`ca.crt`
(served pair and its CA), `next.crt`/`next.key`/`next-ca.crt` (staged), `ca-bundle.crt` (what
the webhook configurations trust), and the annotation `modelship.io/next-trusted-since`.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from dataclasses import dataclass, replace
from typing import Any

from modelship.operator.admission.authority import (
    Pair,
    expired,
    fingerprint,
    issue,
    join_bundle,
    key_matches,
    signed_by,
    split_bundle,
)

Obj = dict[str, Any]
TRUSTED_SINCE = "modelship.io/next-trusted-since"
MANAGED_BY = {"app.kubernetes.io/managed-by": "modelship-operator"}
CURRENT_KEYS = ("ca.crt", "tls.crt", "tls.key")
NEXT_KEYS = ("next-ca.crt", "next.crt", "next.key")
BUNDLE_KEY = "ca-bundle.crt"


class SecretError(ValueError):
    """The Secret's data is not a usable webhook TLS state; the message names the key."""


@dataclass(frozen=True)
class RotationPolicy:
    names: tuple[str, ...]
    lifetime: datetime.timedelta
    rotate_before: datetime.timedelta
    propagation: datetime.timedelta

    def __post_init__(self) -> None:
        if not datetime.timedelta(0) < self.rotate_before < self.lifetime:
            raise ValueError("need 0 < rotate_before < lifetime")


@dataclass(frozen=True)
class WebhookTLS:
    """The served pair, a staged one, and the CAs the webhook configurations must trust."""

    current: Pair | None
    next: Pair | None
    bundle: tuple[bytes, ...]
    trusted_since: datetime.datetime | None = None

    @property
    def bundle_pem(self) -> bytes:
        return join_bundle(self.bundle)


def _decoded(data: dict[str, str], key: str) -> bytes:
    try:
        return base64.b64decode(data[key], validate=True)
    except KeyError:
        raise SecretError(f"data[{key!r}] is missing") from None
    except (binascii.Error, ValueError, TypeError):
        raise SecretError(f"data[{key!r}] is not base64") from None


def pair_from(data: dict[str, str], keys: tuple[str, str, str]) -> Pair | None:
    """The pair under `keys` (ca, cert, key); None when none of them is there."""
    if not any(k in data for k in keys):
        return None
    ca_key, cert_key, key_key = keys
    pair = Pair(_decoded(data, ca_key), _decoded(data, cert_key), _decoded(data, key_key))
    try:
        if len(split_bundle(pair.ca_pem)) != 1:
            raise SecretError(f"data[{ca_key!r}] must hold exactly one certificate")
        if not signed_by(pair):
            raise SecretError(f"data[{cert_key!r}] is not signed by data[{ca_key!r}]")
        if not key_matches(pair):
            raise SecretError(f"data[{key_key!r}] is not the key of data[{cert_key!r}]")
    except SecretError:
        raise
    except (ValueError, TypeError) as exc:
        raise SecretError(f"data[{cert_key!r}]/data[{key_key!r}]: {exc}") from None
    return pair


def parse_secret(secret: Obj) -> WebhookTLS:
    """The state in a Secret this operator wrote; SecretError says what is wrong with it."""
    data = dict(secret.get("data") or {})
    current, staged = pair_from(data, CURRENT_KEYS), pair_from(data, NEXT_KEYS)
    if current is None and staged is None:
        raise SecretError("neither data['tls.crt'] nor data['next.crt'] is there")
    try:
        bundle = split_bundle(_decoded(data, BUNDLE_KEY))
    except SecretError:
        raise
    except ValueError as exc:
        raise SecretError(f"data[{BUNDLE_KEY!r}]: {exc}") from None
    trusted = {fingerprint(ca) for ca in bundle}
    for pair, key in ((current, "ca.crt"), (staged, "next-ca.crt")):
        if pair is not None and fingerprint(pair.ca_pem) not in trusted:
            raise SecretError(f"data[{BUNDLE_KEY!r}] does not hold data[{key!r}]")
    since_text = ((secret.get("metadata") or {}).get("annotations") or {}).get(TRUSTED_SINCE)
    since = None
    if since_text:
        try:
            since = datetime.datetime.fromisoformat(since_text)
        except ValueError:
            raise SecretError(f"annotation {TRUSTED_SINCE} is not a time: {since_text!r}") from None
    return WebhookTLS(current, staged, bundle, since)


def _encode(value: bytes) -> str:
    return base64.b64encode(value).decode()


def secret_body(name: str, namespace: str, state: WebhookTLS) -> Obj:
    """The Secret holding `state` (type kubernetes.io/tls: tls.crt and tls.key are the pair
    replicas serve; a staged-only state on first start has none yet)."""
    data: dict[str, str] = {BUNDLE_KEY: _encode(state.bundle_pem)}
    for pair, keys in ((state.current, CURRENT_KEYS), (state.next, NEXT_KEYS)):
        if pair is not None:
            values = (pair.ca_pem, pair.cert_pem, pair.key_pem)
            data.update(zip(keys, map(_encode, values), strict=True))
    annotations = {TRUSTED_SINCE: state.trusted_since.isoformat() if state.trusted_since else None}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(MANAGED_BY),
            "annotations": annotations,
        },
        "data": data,
    }


def due(pair: Pair, now: datetime.datetime, policy: RotationPolicy) -> bool:
    """A served pair is replaced when it is close to expiry or names other DNS names."""
    return pair.not_after - policy.rotate_before <= now or set(pair.names) != set(policy.names)


def _live(bundle: tuple[bytes, ...], now: datetime.datetime) -> tuple[bytes, ...]:
    """The unexpired CAs of a bundle, each once, in order."""
    seen: dict[str, bytes] = {}
    for ca in bundle:
        if not expired(ca, now):
            seen.setdefault(fingerprint(ca), ca)
    return tuple(seen.values())


def plan(
    state: WebhookTLS | None,
    now: datetime.datetime,
    policy: RotationPolicy,
    trusted: tuple[bytes, ...],
    vacuous: bool = False,
) -> WebhookTLS:
    """The next state. `trusted`: the CAs every webhook calling our Service trusts right now
    (what the configurations' caBundle holds); `vacuous`: no webhook calls our Service, so
    there is nobody whose trust must be waited for."""
    if state is None or (state.current is None and state.next is None):
        fresh = issue(policy.names, now, policy.lifetime)
        still_trusted = _live(trusted, now)
        if not still_trusted:  # nothing can be answered now: nothing to keep working
            return WebhookTLS(fresh, None, (fresh.ca_pem,))
        return WebhookTLS(None, fresh, (*still_trusted, fresh.ca_pem))
    bundle = _live(state.bundle, now)
    if state.next is not None:
        if not vacuous and fingerprint(state.next.ca_pem) not in {fingerprint(c) for c in trusted}:
            return replace(state, bundle=bundle, trusted_since=None)
        since = state.trusted_since
        if since is None:
            return replace(state, bundle=bundle, trusted_since=now)
        if vacuous or now - since >= policy.propagation:
            return WebhookTLS(state.next, None, bundle)
        return replace(state, bundle=bundle)
    assert state.current is not None
    if due(state.current, now, policy):
        staged = issue(policy.names, now, policy.lifetime)
        return WebhookTLS(state.current, staged, _live((*bundle, staged.ca_pem), now))
    return replace(state, bundle=bundle)
