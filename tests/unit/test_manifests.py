"""deploy/kubernetes: valid against the Kubernetes schemas, and pods under the restricted
Pod Security Standard."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.helpers import ROOT
from tests.support.kube import resources, validate
from tests.support.pod_security import pod_spec_of, restricted_violations

MANIFESTS = sorted((ROOT / "deploy/kubernetes").glob("*.yaml"))


def _all() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in MANIFESTS for doc in resources(path.read_text())]


def test_there_are_manifests_to_check() -> None:
    kinds = {doc["kind"] for _, doc in _all()}
    assert {"Deployment", "StatefulSet", "Service", "PodDisruptionBudget", "Secret"} <= kinds


@pytest.mark.parametrize(
    ("name", "resource"),
    [
        pytest.param(name, doc, id=f"{name}:{doc['kind']}/{doc['metadata']['name']}")
        for name, doc in _all()
    ],
)
def test_every_resource_matches_the_kubernetes_schema(name: str, resource: dict[str, Any]) -> None:
    assert validate(resource) == [], name


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    pods = [(name, pod_spec_of(doc)) for name, doc in _all()]
    checked = [(name, spec) for name, spec in pods if spec is not None]
    assert len(checked) == 2
    for name, spec in checked:
        assert restricted_violations(spec) == [], name


def test_the_schema_check_refuses_a_misplaced_field() -> None:
    deployment = next(doc for _, doc in _all() if doc["kind"] == "Deployment")
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    assert any("httpGett" in error for error in validate(broken))
    broken = copy.deepcopy(deployment)
    broken["spec"]["replicas"] = "three"
    assert validate(broken)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (
            lambda s, c: c["securityContext"].update(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation",
        ),
        (lambda s, c: c["securityContext"]["capabilities"].update(drop=["NET_RAW"]), "drop"),
        (lambda s, c: c["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]), "add"),
        (lambda s, c: s["securityContext"].pop("runAsNonRoot"), "runAsNonRoot"),
        (lambda s, c: c["securityContext"].update(runAsUser=0), "runAsUser"),
        (lambda s, c: s["securityContext"].pop("seccompProfile"), "seccompProfile"),
        (lambda s, c: c.update(ports=[{"containerPort": 80, "hostPort": 80}]), "hostPort"),
        (lambda s, c: s.update(hostNetwork=True), "hostNetwork"),
        (lambda s, c: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "hostPath"),
        (lambda s, c: c["securityContext"].update(privileged=True), "privileged"),
        (lambda s, c: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax"}]), "sysctl"),
    ],
)
def test_each_restricted_rule_catches_its_breach(change: Any, rule: str) -> None:
    deployment = next(doc for _, doc in _all() if doc["kind"] == "Deployment")
    spec = copy.deepcopy(pod_spec_of(deployment))
    assert spec is not None
    change(spec, spec["containers"][0])
    found = restricted_violations(spec)
    assert any(rule.lower() in line.lower() for line in found), found
