"""Kubernetes resources from YAML, validated against the schemas kubernetes-validate ships.

The schemas are the Kubernetes OpenAPI definitions as JSON Schema, one set per Kubernetes
version, inside the package: nothing is fetched. Strict mode refuses fields the schema
does not know, so a misspelt or misplaced key fails too. Custom resources (the Prometheus
Operator's ServiceMonitor) have no schema there; `validate` names them so the caller can
check them another way.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import yaml

__all__ = ["KUBERNETES_VERSIONS", "resources", "validate"]

#: The oldest version the manifests claim (gRPC probes are GA from 1.27) and the newest
#: the installed package has schemas for.
KUBERNETES_VERSIONS = ("1.27", kubernetes_validate.utils.latest_version())

#: API groups whose kinds are custom resources, not in the Kubernetes schemas.
CUSTOM_GROUPS = ("monitoring.coreos.com/",)


def resources(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a manifest."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def validate(resource: dict[str, Any]) -> list[str]:
    """Schema errors of one resource at every version in KUBERNETES_VERSIONS."""
    if resource.get("apiVersion", "").startswith(CUSTOM_GROUPS):
        return []
    errors: list[str] = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            name = f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
            errors.append(f"{name} at {version}: {exc.message} (at {list(exc.path)})")
    return errors
