"""The RBAC derivation (support/rbac.py) without a cluster: it sees every resource the operator
touches, and a ClusterRole missing one is reported. tests/integration/test_rbac.py then asks the
real API server the same questions."""

from __future__ import annotations

import ast
import copy

from support.rbac import (
    LEADER_ELECTION_ROLE,
    NOT_FOR_THE_SERVICE_ACCOUNT,
    WEBHOOK_SECRET_ROLE,
    client_needs,
    kopf_watch_needs,
    not_granted,
    operator_needs,
    own_namespace_needs,
    resource_aliases,
    role_rules,
    touched,
    unscanned,
)

PDB_NEEDS = {
    (verb, "policy", "poddisruptionbudgets", "") for verb in ("get", "create", "patch", "delete")
}


def test_the_scan_sees_every_resource_the_operator_code_refers_to() -> None:
    needs, touches = operator_needs()
    assert unscanned(touches, needs) == []
    # Production's disruption budget is reached only through a property choosing its version.
    assert needs >= PDB_NEEDS
    assert ("policy", "poddisruptionbudgets") in touches
    # Events: posted by the controllers and by Kopf.
    assert ("create", "", "events", "") in needs


def test_the_shipped_roles_grant_every_need() -> None:
    needs, _ = operator_needs()
    own = own_namespace_needs(needs)
    assert own >= {("get", "coordination.k8s.io", "leases", ""), ("get", "", "secrets", "")}
    assert not_granted(needs - NOT_FOR_THE_SERVICE_ACCOUNT - own, role_rules()) == []
    own_roles = role_rules(LEADER_ELECTION_ROLE, "Role") + role_rules(WEBHOOK_SECRET_ROLE, "Role")
    assert not_granted(own, own_roles) == []
    # The ClusterRole grants no Lease and no Secret: those stay in the operator's namespace.
    assert not_granted(own, role_rules()) == sorted(own)


def test_rbac_grew_by_exactly_the_webhook_secret_and_its_two_configurations() -> None:
    """The webhook's certificates: that one Secret (get, patch by name; create, which RBAC
    cannot limit by name) and get/patch of the two configurations by name; nothing more."""
    assert role_rules(WEBHOOK_SECRET_ROLE, "Role") == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["modelship-operator-webhook-tls"],
            "verbs": ["get", "patch"],
        },
    ]
    webhooks = [r for r in role_rules() if "admissionregistration.k8s.io" in r["apiGroups"]]
    assert webhooks == [
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
            "resourceNames": ["modelship-approvals"],
            "verbs": ["get", "patch"],
        }
    ]
    assert not [r for r in role_rules() if "secrets" in r["resources"]]
    needs, _ = operator_needs()
    assert {n for n in needs if n[2] == "secrets"} == {
        ("get", "", "secrets", ""),
        ("create", "", "secrets", ""),
        ("patch", "", "secrets", ""),
    }


def test_a_cluster_role_without_poddisruptionbudgets_is_reported() -> None:
    needs, _ = operator_needs()
    rules = [r for r in copy.deepcopy(role_rules()) if "poddisruptionbudgets" not in r["resources"]]
    cluster_wide = needs - NOT_FOR_THE_SERVICE_ACCOUNT - own_namespace_needs(needs)
    assert sorted(PDB_NEEDS) == not_granted(cluster_wide, rules)


def test_a_missing_verb_or_subresource_is_reported_and_wildcards_grant() -> None:
    rules = [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]}]
    assert not_granted({("get", "batch", "jobs", "")}, rules) == []
    assert not_granted({("create", "batch", "jobs", "")}, rules) == [
        ("create", "batch", "jobs", "")
    ]
    status = ("patch", "batch", "jobs", "status")
    assert not_granted({status}, rules) == [status]
    assert not_granted({status}, [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]) == []


def test_calls_through_a_property_or_a_variable_are_read_and_the_unreadable_are_reported() -> None:
    source = """
class R:
    @property
    def pdbs(self):
        return HPAS_V2 if self.kube.served(HPAS_V2) else PDBS

    def run(self, desired):
        self.kube.delete(self.pdbs, "ns", "n")
        draft.apply(SERVICES, desired, None)
        self.kube.patch(MODELS, "ns", "n", {}, status=True)
        hidden = [JOBS]
"""
    needs = client_needs(source)
    assert ("delete", "policy", "poddisruptionbudgets", "") in needs
    assert {("get", "", "services", ""), ("create", "", "services", "")} <= needs
    assert ("patch", "modelship.io", "models", "status") in needs
    # JOBS is referred to, but through nothing the scan reads: reported, not silently passed.
    assert unscanned(touched(source), needs) == [("batch", "jobs")]


def test_the_shared_status_write_is_read_as_a_patch_of_the_status_subresource() -> None:
    source = """
def apply(kube, body, old, new):
    write_status(kube, TRAINING_JOBS, body, old, new)
    perform.write_status(kube, MODEL_DEPLOYMENTS, body, old, new)
"""
    assert client_needs(source) == {
        ("patch", "modelship.io", "trainingjobs", "status"),
        ("patch", "modelship.io", "deployments", "status"),
    }


def test_a_resource_chosen_in_one_module_and_used_in_another_is_read() -> None:
    observe = """
@dataclass
class Observation:
    pdb_resource: Resource = HPAS_V2

def observe(kube):
    pdb_resource = HPAS_V2 if kube.served(HPAS_V2) else PDBS
    return Observation(pdb_resource)
"""
    decide = """
def decide(draft, seen):
    draft.delete(seen.pdb_resource, "n")
"""
    assert client_needs(decide) == set()  # alone, the attribute names no resource
    aliases = resource_aliases(ast.parse(observe))
    needs = client_needs(decide, aliases)
    assert {("delete", "policy", "poddisruptionbudgets", "")} <= needs


def test_kopf_handlers_of_every_form_are_read() -> None:
    source = """
@kopf.on.event("batch", "v1", "jobs", labels={})
def a(**_): ...

@kopf.timer(GROUP, VERSION, "models", interval=1)
def b(**_): ...

@kopf.on.update(group="apps", version="v1", plural="deployments")
def c(**_): ...

@kopf.on.create("leases.coordination.k8s.io")
def d(**_): ...

@kopf.on.startup()
def e(**_): ...
"""
    assert kopf_watch_needs(source) == {
        ("list", "batch", "jobs", ""),
        ("watch", "batch", "jobs", ""),
        *((v, "modelship.io", "models", "") for v in ("list", "watch", "patch")),
        *((v, "apps", "deployments", "") for v in ("list", "watch", "patch")),
        *((v, "coordination.k8s.io", "leases", "") for v in ("list", "watch", "patch")),
    }
