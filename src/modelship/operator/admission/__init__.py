"""The approval admission webhook, served by every operator replica from the moment it starts.

This module's startup handler is registered before the leader election's (see
`modelship.operator.__init__`), and Kopf runs startup handlers in order: the webhook is up
before the replica starts waiting for the Lease, so standbys admit too, and approvals keep
working while leadership changes hands. Why not Kopf's own webhook server: see `server.py`.
Its certificate: `certs.py` (what each replica serves) and `keeper.py` (what the leader issues,
rotates and injects into the webhook configurations).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import kopf

from modelship.operator.admission.certs import SecretCertificate, ServingCertificate, certificate
from modelship.operator.admission.review import ReviewPolicy
from modelship.operator.admission.server import AdmissionServer
from modelship.operator.kube.client import Kube, load_api_client
from modelship.operator.settings import OperatorSettings


def certificate_names(settings: OperatorSettings) -> list[str]:
    """Names of a generated certificate: the configured ones and a specific listen address."""
    names = list(settings.admission_names)
    try:
        if not ipaddress.ip_address(settings.admission_host).is_unspecified:
            names.append(settings.admission_host)
    except ValueError:
        names.append(settings.admission_host)
    return names


@kopf.on.startup()
async def serve_admission(memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    settings = OperatorSettings()
    if not settings.admission_port:
        logger.warning("the approval webhook is off: approvals will be refused (no identity)")
        return
    kube = Kube(load_api_client())
    cert: ServingCertificate
    if settings.admission_secret:
        cert = SecretCertificate(kube, settings.admission_namespace, settings.admission_secret)
        # Listen at once when the Secret is there; on a first start the leader writes it later.
        await asyncio.to_thread(cert.reload_if_changed)
    else:
        cert = certificate(
            settings.admission_cert_file,
            settings.admission_key_file,
            settings.admission_generated_dir,
            certificate_names(settings),
        )
    server = AdmissionServer(
        kube,
        cert,
        ReviewPolicy(trusted_appliers=frozenset(settings.approval_trusted_appliers)),
        replica=settings.lease_identity or socket.gethostname(),
    )
    await server.start(
        settings.admission_host, settings.admission_port, settings.admission_reload_seconds
    )
    memo.admission = server


@kopf.on.cleanup()
async def stop_admission(memo: kopf.Memo, **_: Any) -> None:
    server: AdmissionServer | None = getattr(memo, "admission", None)
    if server is not None:
        # Behind the Service (the Secret's pair: in a cluster), answer a little longer while
        # the pod leaves its endpoints; a local process pointed at by URL has no one to wait for.
        settings = OperatorSettings()
        await server.stop(settings.admission_drain_seconds if settings.admission_secret else 0.0)
        memo.admission = None
