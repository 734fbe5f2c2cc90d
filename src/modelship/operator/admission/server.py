"""The admission webhook's HTTPS server, on every replica, leader or not.

Kopf has admission webhooks of its own, but its webhook server is one of the tasks it starts
only after every startup handler returned (kopf/_core/reactor/running.py: guarded by the
"started" flag), and a standby never gets there: its startup handler waits for the leader Lease
(election.py). Admission needs no leader — a replica that admits writes nothing — so this small
aiohttp server answers AdmissionReviews from a startup handler that runs *before* the election
(admission/__init__.py), with the decision in `review.py` and the authorizer's answer from a
SubjectAccessReview for the requester (user, groups, uid, extra) as the request names them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp.web
from pydantic import ValidationError

from modelship.api.v1alpha1 import GROUP, utcnow
from modelship.contracts.approval import APPROVED_AT, model_spec_author
from modelship.operator.admission.certs import ServingCertificate
from modelship.operator.admission.review import (
    AdmissionRequest,
    ReviewPolicy,
    Verdict,
    approval_changed,
    four_eyes,
    needs_approve_right,
    patch_for,
    review,
)
from modelship.operator.kube.client import Kube, KubeError
from modelship.operator.kube.resources import MODELS, SUBJECT_ACCESS_REVIEWS

log = logging.getLogger("modelship.admission")
Obj = dict[str, Any]


def access_review(request: AdmissionRequest) -> Obj:
    """The SubjectAccessReview asking whether the requester may approve this Deployment."""
    user = request.user_info
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user.username,
            "uid": user.uid,
            "groups": user.groups,
            "extra": user.extra,
            "resourceAttributes": {
                "group": GROUP,
                "resource": "deployments",
                "subresource": "approval",
                "verb": "approve",
                "namespace": request.namespace,
                "name": request.object_name,
            },
        },
    }


def response(uid: str, verdict: Verdict, patch: list[Obj], replica: str = "") -> Obj:
    """The AdmissionReview answer. `replica` (the pod's name) becomes an audit annotation,
    `<webhook name>/served-by` in the API server's audit log: which replica admitted a write."""
    answer: Obj = {"uid": uid, "allowed": verdict.allowed}
    if replica:
        answer["auditAnnotations"] = {"served-by": replica}
    if not verdict.allowed:
        answer["status"] = {"code": verdict.code, "message": verdict.message}
    if patch:
        answer["patchType"] = "JSONPatch"
        answer["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": answer}


# Each decision is at most two API calls (an access review, a Model read); four at once keep up
# with a burst of approvals and Kopf's own patches without taking threads from the reconciles.
ADMISSION_THREADS = 4


class AdmissionServer:
    """Serve /mutate (record identities) and /validate (check the final object again)."""

    def __init__(
        self,
        kube: Kube,
        certificate: ServingCertificate,
        policy: ReviewPolicy,
        replica: str = "",
    ):
        self.kube, self.certificate, self.policy = kube, certificate, policy
        self.replica = replica
        self._runner: aiohttp.web.AppRunner | None = None
        self._watch: asyncio.Task[None] | None = None
        # Its own threads: on the loop's shared executor an approval waited behind reconciles
        # and clock passes blocked on the API server, past the API server's 10 s webhook
        # timeout, and every write to a Deployment failed meanwhile (seen settling 1,000).
        self._threads = ThreadPoolExecutor(ADMISSION_THREADS, thread_name_prefix="admission")
        self.address: tuple[str, int] = ("", 0)
        self.listening = False

    def _may_approve(self, request: AdmissionRequest) -> bool:
        answer = self.kube.create(SUBJECT_ACCESS_REVIEWS, None, access_review(request))
        return bool((answer.get("status") or {}).get("allowed"))

    def _model_changed_by(self, request: AdmissionRequest) -> str | None:
        model = ((request.new.get("spec") or {}).get("modelRef") or {}).get("name")
        body = self.kube.get(MODELS, request.namespace, str(model)) if model else None
        return model_spec_author(body) if body is not None else ""

    def decide(self, request: AdmissionRequest, validating: bool = False) -> Verdict:
        """Ask the authorizer (and read the Model) only when the decision needs it.

        Validation recomputes the record from the final object; the time in it is the one the
        mutation wrote (a second may have passed since), so it is the one thing taken over."""
        now = utcnow()
        if validating:
            now = ((request.new.get("metadata") or {}).get("annotations") or {}).get(
                APPROVED_AT, now
            )
        may_approve: bool | None = None
        model_changed_by: str | None = ""
        try:
            if needs_approve_right(request):
                may_approve = self._may_approve(request)
            if may_approve and four_eyes(request) and approval_changed(request):
                model_changed_by = self._model_changed_by(request)
        except KubeError as exc:  # fail closed: no answer from the authorizer is no
            return Verdict(False, f"could not check the approve right: {exc}", code=500)
        return review(request, may_approve, now, self.policy, model_changed_by)

    async def _handle(self, http: aiohttp.web.Request, validating: bool) -> aiohttp.web.Response:
        try:
            request = AdmissionRequest.model_validate((await http.json())["request"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            error = {"error": f"not an AdmissionReview: {exc}"}
            return aiohttp.web.json_response(error, status=400)
        loop = asyncio.get_running_loop()
        verdict = await loop.run_in_executor(self._threads, self.decide, request, validating)
        patch = patch_for(request, verdict)
        if validating and patch:
            # The mutating webhook set these annotations; anything that changed them since
            # (another webhook, a reinvocation) makes the record untrustworthy.
            verdict = Verdict(
                False, "approval identity annotations differ from what was recorded", code=403
            )
            patch = []
        if not verdict.allowed:
            log.info("refused %s %s/%s: %s", request.operation, request.namespace,
                     request.object_name, verdict.message)  # fmt: skip
        return aiohttp.web.json_response(
            response(request.uid, verdict, [] if validating else patch, self.replica)
        )

    async def mutate(self, http: aiohttp.web.Request) -> aiohttp.web.Response:
        return await self._handle(http, validating=False)

    async def validate(self, http: aiohttp.web.Request) -> aiohttp.web.Response:
        return await self._handle(http, validating=True)

    async def start(self, host: str, port: int, reload_seconds: float) -> None:
        """Listen now when a certificate is loaded, otherwise as soon as one is (a first start
        before the leader wrote the Secret): never without TLS, and nothing is admitted by a
        server that does not listen (the API server's failurePolicy decides)."""
        app = aiohttp.web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/mutate", self.mutate)
        app.router.add_post("/validate", self.validate)
        self._runner = aiohttp.web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.address = (host, port)
        if self.certificate.loaded:
            await self._listen()
        else:
            log.warning("admission webhook waits for its certificate before listening")
        self._watch = asyncio.create_task(self._reload(reload_seconds))

    async def _listen(self) -> None:
        assert self._runner is not None
        host, port = self.address
        site = aiohttp.web.TCPSite(self._runner, host, port, ssl_context=self.certificate.context)
        await site.start()
        self.listening = True
        log.info("admission webhook serving on https://%s:%d", host, port)

    async def _reload(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await asyncio.to_thread(self.certificate.reload_if_changed)
            except OSError as exc:  # files mid-replacement: try again next time
                log.warning("webhook certificate not readable: %s", exc)
            if not self.listening and self.certificate.loaded:
                await self._listen()

    async def stop(self, drain_seconds: float = 0.0) -> None:
        """Stop answering; with `drain_seconds`, only after answering that much longer: a pod
        being deleted is taken out of the Service's endpoints while it is told to stop, and the
        API server may still call it until it sees that."""
        if self.listening and drain_seconds > 0:
            log.info("admission webhook answers %.0f s more while it leaves the Service",
                     drain_seconds)  # fmt: skip
            await asyncio.sleep(drain_seconds)
        if self._watch is not None:
            self._watch.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner, self.listening = None, False
        self._threads.shutdown(wait=False, cancel_futures=True)
        self.kube.close()
