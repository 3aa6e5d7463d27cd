"""deploy/helm/notification-gateway, rendered by Helm's own template engine.

No helm binary is installable here (not on PyPI, Debian or npm), so the chart is rendered
with helm-python-sdk: Helm v4's Go SDK built as a C library inside the wheel, the engine
`helm template` and `helm lint` run. The rendered objects must pass the same schema check
and restricted Pod Security rules as deploy/kubernetes, and the environment the chart
gives the container must be settings the gateway accepts.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helm_python import Chart, HelmRenderError, lint
from pydantic import ValidationError

from gateway.config import Settings
from tests.support.helpers import ROOT
from tests.support.kube import resources, validate
from tests.support.pod_security import pod_spec_of, restricted_violations

CHART = ROOT / "deploy/helm/notification-gateway"
SECRET = "s" * 40
REDIS = {"backend": {"url": "redis://:pw@redis:6379/0"}}

#: Every optional part on: what a production install with the operator would use.
FULL: dict[str, Any] = {
    **REDIS,
    "jwt": {"secret": SECRET, "audience": "app", "issuer": "https://idp.example"},
    "publishTokens": {"tokens": ["pub-1", "pub-2"]},
    "allowedOrigins": ["https://app.example.com"],
    "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 12},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "grafanaDashboard": {"enabled": True},
    "extraEnv": [{"name": "GATEWAY_HISTORY_SIZE", "value": "50000"}],
    "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    with Chart.load(CHART) as chart:
        manifests = chart.render(values, name="ng", namespace="apps")
    return [
        doc
        for path, text in sorted(manifests.items())
        if path.endswith((".yaml", ".yml"))
        for doc in resources(text)
    ]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def container_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The gateway container's environment, with Secret references resolved from the
    chart's own Secret (as the kubelet would)."""
    (deployment,) = by_kind(docs, "Deployment")
    secrets = {s["metadata"]["name"]: s.get("stringData", {}) for s in by_kind(docs, "Secret")}
    env: dict[str, str] = {}
    for item in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def test_the_chart_lints_clean() -> None:
    report = lint(CHART, FULL, strict=True)
    assert report["errors"] == []
    assert not [m for m in report["messages"] if m["severity"] > 1], report["messages"]


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(FULL, id="everything-on"),
        pytest.param({**REDIS, "jwt": {"jwksUrl": "https://idp.example/jwks.json"}}, id="jwks"),
        pytest.param({"replicaCount": 1, "insecure": True}, id="one-replica-memory-insecure"),
        pytest.param(
            {**REDIS, "jwt": {"existingSecret": "mine"}, "podDisruptionBudget": {"enabled": False}},
            id="existing-secret-no-pdb",
        ),
    ],
)
def test_rendered_objects_are_valid_and_restricted(values: dict[str, Any]) -> None:
    docs = render(values)
    assert by_kind(docs, "Deployment") and by_kind(docs, "Service")
    for doc in docs:
        assert validate(doc) == []
        spec = pod_spec_of(doc)
        if spec is not None:
            assert restricted_violations(spec) == []


def test_everything_on_renders_each_object_wired_to_the_deployment() -> None:
    docs = render(FULL)
    kinds = sorted(doc["kind"] for doc in docs)
    expected = ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
    expected += ["Secret", "Service", "Service", "ServiceMonitor"]
    assert kinds == sorted(expected)
    (deployment,) = by_kind(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == FULL["resources"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["ops"] == 9090
    # The ServiceMonitor (a custom resource: no schema here) selects the metrics Service,
    # which names the ops port, which selects the pods.
    (monitor,) = by_kind(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    services = by_kind(docs, "Service")
    (metrics,) = [
        s
        for s in services
        if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["ops"]
    assert [p["name"] for p in metrics["spec"]["ports"]] == ["ops"]
    assert metrics["spec"]["selector"].items() <= pod_labels.items()
    (public,) = [s for s in services if s is not metrics]
    assert sorted(p["name"] for p in public["spec"]["ports"]) == ["grpc", "http"]
    (dashboard,) = by_kind(docs, "ConfigMap")
    shipped = json.loads((ROOT / "deploy/grafana/gateway.json").read_text())
    assert json.loads(dashboard["data"]["notification-gateway.json"]) == shipped


def test_the_chart_s_dashboard_copy_is_the_shipped_dashboard() -> None:
    # Helm packages only files inside the chart, so the dashboard is copied in.
    copy = CHART / "dashboards/gateway.json"
    assert copy.read_text() == (ROOT / "deploy/grafana/gateway.json").read_text(), (
        "cp deploy/grafana/gateway.json deploy/helm/notification-gateway/dashboards/"
    )


@pytest.mark.parametrize(
    "values",
    [FULL, {**REDIS, "jwt": {"jwksUrl": "https://idp.example/jwks.json"}}],
    ids=["everything-on", "jwks"],
)
def test_the_container_environment_is_settings_the_gateway_accepts(
    values: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = container_env(render(values))
    known = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= known, set(env) - known
    for name in list(known):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.ops_port == 9090 and settings.http_host == "0.0.0.0"
    assert settings.backend == REDIS["backend"]["url"]
    assert settings.auth_required


def test_a_public_key_is_mounted_as_the_file_the_setting_names() -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
    docs = render({**REDIS, "jwt": {"publicKey": pem}})
    env = container_env(docs)
    (deployment,) = by_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "jwt-public-key"]
    assert env["GATEWAY_JWT_PUBLIC_KEY_FILE"] == f"{mount['mountPath']}/jwt-public-key.pem"
    (secret,) = by_kind(docs, "Secret")
    assert secret["stringData"]["jwt-public-key.pem"] == pem


def test_a_type_registry_configmap_is_mounted_as_the_directory_the_setting_names() -> None:
    keyed = {**REDIS, "jwt": {"secret": SECRET}}
    docs = render({**keyed, "types": {"configMap": "notification-types", "mode": "strict"}})
    env = container_env(docs)
    (deployment,) = by_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "types"]
    assert env["GATEWAY_TYPES"] == mount["mountPath"]
    assert env["GATEWAY_TYPES_MODE"] == "strict"
    (volume,) = [v for v in pod["volumes"] if v["name"] == "types"]
    assert volume["configMap"]["name"] == "notification-types"
    for doc in docs:
        assert validate(doc) == []
    assert "GATEWAY_TYPES" not in container_env(render(keyed))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "jwt: set secret"),
        ({"insecure": True}, "several replicas need the Redis backend"),
        ({**REDIS, "jwt": {"secret": "short"}}, "at least 32 bytes"),
        ({**REDIS, "jwt": {"secret": SECRET, "jwksUrl": "https://x"}}, "only one of"),
        (
            {"replicaCount": 1, "insecure": True, "autoscaling": {"enabled": True}},
            "several replicas",
        ),
    ],
    ids=["defaults", "memory-log-3-replicas", "short-secret", "two-keys", "hpa-memory-log"],
)
def test_values_that_cannot_work_stop_the_render(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmRenderError, match=message):
        render(values)


def test_a_setting_the_gateway_refuses_is_caught_by_the_settings_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The environment check above can fail: a bad value in extraEnv is refused."""
    env = container_env(
        render({**FULL, "extraEnv": [{"name": "GATEWAY_COALESCE_MS", "value": "900"}]})
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="coalesce_ms"):
        Settings()
