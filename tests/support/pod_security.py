"""The restricted Pod Security Standard's rules, as a checker for the pod specs we ship.

Kubernetes enforces the standard in the cluster (Pod Security Admission); this is its rule
list (baseline plus restricted, as the standard's page words them for current versions) so
a manifest or a chart value that breaks one fails a test here instead of a deploy there.
Each rule returns a sentence naming the field; no sentence means the spec passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["pod_spec_of", "restricted_violations"]

#: Volume types the restricted profile allows.
_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
#: Sysctls the baseline profile allows.
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
_SECCOMP_OK = {"RuntimeDefault", "Localhost"}


def pod_spec_of(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside a workload resource (Pod, Deployment, StatefulSet, Job, ...)."""
    kind = resource.get("kind")
    if kind == "Pod":
        spec: dict[str, Any] = resource["spec"]
        return spec
    if kind == "CronJob":
        return pod_spec_of({"kind": "Job", **resource["spec"]["jobTemplate"]})
    template = resource.get("spec", {}).get("template")
    return template["spec"] if template else None


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field}[{container.get('name')}]", container


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """Every rule of the restricted profile the pod spec breaks."""
    found: list[str] = []
    pod_sc: dict[str, Any] = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(f"spec.{field} must be unset or false")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= _VOLUME_TYPES:
            found.append(f"volume {volume.get('name')}: type {sorted(kinds)} is not allowed")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            found.append(f"securityContext.sysctls: {sysctl.get('name')} is not a safe sysctl")
    found += _context_rules("spec.securityContext", pod_sc)
    if pod_sc.get("windowsOptions", {}).get("hostProcess"):
        found.append("spec.securityContext.windowsOptions.hostProcess must not be true")
    for where, container in _containers(spec):
        sc: dict[str, Any] = container.get("securityContext") or {}
        found += _context_rules(f"{where}.securityContext", sc)
        if sc.get("privileged"):
            found.append(f"{where}: privileged must be unset or false")
        if sc.get("windowsOptions", {}).get("hostProcess"):
            found.append(f"{where}: windowsOptions.hostProcess must not be true")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{where}: procMount must be Default")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"{where}: capabilities.drop must include ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{where}: capabilities.add may hold only NET_BIND_SERVICE")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"{where}: hostPort must be unset or 0")
        if sc.get("runAsNonRoot") is False or (
            not pod_sc.get("runAsNonRoot") and sc.get("runAsNonRoot") is not True
        ):
            found.append(f"{where}: runAsNonRoot must be true (on the pod or the container)")
        profile = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if profile not in _SECCOMP_OK:
            found.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost")
    return found


def _context_rules(where: str, sc: dict[str, Any]) -> list[str]:
    """Rules that apply alike to the pod's and each container's security context."""
    found: list[str] = []
    if sc.get("runAsUser") == 0:
        found.append(f"{where}.runAsUser must not be 0")
    se = sc.get("seLinuxOptions") or {}
    if se.get("type", "") not in _SELINUX_TYPES or se.get("user") or se.get("role"):
        found.append(f"{where}.seLinuxOptions: only the container types, no user or role")
    if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        found.append(f"{where}.seccompProfile.type must not be Unconfined")
    apparmor = (sc.get("appArmorProfile") or {}).get("type")
    if apparmor not in (None, "RuntimeDefault", "Localhost"):
        found.append(f"{where}.appArmorProfile.type must be RuntimeDefault or Localhost")
    return found
