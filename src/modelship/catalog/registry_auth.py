"""Registry credentials: a Docker config file (`kubernetes.io/dockerconfigjson`) and token auth.

Pods get the Secret named in the operator's settings mounted as `$DOCKER_CONFIG/config.json`, the
layout every registry client already understands. A registry answers 401 with a challenge: Basic
(send the user and password) or Bearer (trade them at the realm for a short-lived token scoped to
the repository) — the two schemes of the Distribution token specification.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from modelship.catalog.errors import CatalogError

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def load_credentials(config_dir: str | None, host: str) -> Credentials | None:
    """The credentials for `host` in `<config_dir>/config.json`, or None (anonymous)."""
    if not config_dir:
        return None
    path = Path(config_dir) / "config.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CatalogError(f"registry credentials in {path} are unreadable: {exc}") from exc
    auths = document.get("auths") or {}
    for key in (host, f"https://{host}", f"http://{host}", f"https://{host}/v2/"):
        entry = auths.get(key)
        if entry:
            return _entry_credentials(entry, path)
    return None


def _entry_credentials(entry: dict[str, str], path: Path) -> Credentials:
    if entry.get("username"):
        return Credentials(entry["username"], entry.get("password", ""))
    try:
        user, _, password = base64.b64decode(entry.get("auth", "")).decode().partition(":")
    except ValueError as exc:
        raise CatalogError(f"registry credentials in {path}: bad auth entry") from exc
    return Credentials(user, password)


def authorization(
    client: httpx.Client, challenge: str, credentials: Credentials | None
) -> str | None:
    """The Authorization header answering a `WWW-Authenticate` challenge, or None if we cannot."""
    scheme, _, rest = challenge.partition(" ")
    if scheme.lower() == "basic":
        return _basic(credentials) if credentials else None
    if scheme.lower() != "bearer":
        return None
    params = dict(_CHALLENGE_PARAM.findall(rest))
    realm = params.pop("realm", "")
    if not realm:
        return None
    headers = {"Authorization": _basic(credentials)} if credentials else {}
    response = client.get(realm, params=params, headers=headers)
    if response.status_code != 200:
        raise CatalogError(f"registry token service {realm} refused: HTTP {response.status_code}")
    body = response.json()
    token = body.get("token") or body.get("access_token")
    return f"Bearer {token}" if token else None


def _basic(credentials: Credentials | None) -> str:
    assert credentials is not None
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()
