"""The Grafana dashboard only queries series a gateway really exposes.

Every PromQL expression in `deploy/grafana/gateway.json` (panels and template variables)
is reduced to the metric names it selects, and each must be a series of a family that a
live gateway's `/metrics` returns; a `by (...)` label must be one the family carries (or
`instance`/`job`, which Prometheus adds). A renamed or removed family, or a typo in a
panel, fails here instead of showing "No data" during an incident.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import Gateway
from tests.support.helpers import ROOT

DASHBOARD = ROOT / "deploy/grafana/gateway.json"

#: PromQL words that look like names: functions are recognised by their "(", these not.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
_KEYWORDS |= {"and", "or", "unless", "inf", "nan"}
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w:.$])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(?!\s*\()")

#: Labels a scrape does not carry but Prometheus attaches to every series.
_TARGET_LABELS = {"instance", "job"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings: label values, regexes
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = _LABEL_LIST.sub("", text)
    return {
        name
        for name in _IDENT.findall(text)
        if name.lower() not in _KEYWORDS and not re.fullmatch(r"[0-9.e+-]+", name)
    }


def grouping_labels(expr: str) -> set[str]:
    """Labels named in `by (...)` / `without (...)` clauses."""
    return {
        label.strip()
        for _, labels in _LABEL_LIST.findall(expr)
        for label in labels.split(",")
        if label.strip()
    }


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and query variable."""

    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
            yield from walk(panel.get("panels", []))

    yield from walk(dashboard["panels"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            # Grafana's label_values(metric, label): the metric is PromQL, the label a name.
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            yield f"variable {variable['name']!r}", match.group(1) if match else query


def test_the_extractor_finds_names_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, status) (rate(gateway_x_bucket{instance=~"$a"}'
        "[$__rate_interval]))) / on(instance) group_left() sum(gateway_y_total offset 5m) > 0"
    )
    assert metric_names(expr) == {"gateway_x_bucket", "gateway_y_total"}
    assert grouping_labels(expr) == {"le", "status", "instance"}
    assert metric_names("gateway_ready == 0 and up") == {"gateway_ready", "up"}


def _scraped_series(text: str) -> dict[str, set[str]]:
    """Each series name a scrape can hold, with the labels of its family."""
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        labels = {key for sample in family.samples for key in sample.labels}
        labels |= set(getattr(family, "_labelnames", ()))
        names = {sample.name for sample in family.samples}
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
        for name in names:
            series[name] = labels
    return series


@pytest.fixture
async def exposed(
    start_gateway: Callable[..., Awaitable[Gateway]], http: aiohttp.ClientSession
) -> dict[str, set[str]]:
    gateway = await start_gateway()
    base = f"http://127.0.0.1:{gateway.http_port}"
    # One refusal, so the refusals family has a sample and shows its `status` label.
    async with http.get(f"{base}/ws", headers={"Connection": "Upgrade"}) as response:
        assert response.status >= 400
    async with http.get(f"{base}/metrics") as response:
        assert response.status == 200
        return _scraped_series(await response.text())


async def test_every_query_names_a_family_the_gateway_exposes(
    exposed: dict[str, set[str]],
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used: set[str] = set()
    unknown: list[str] = []
    for where, expr in expressions(dashboard):
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        used |= names
        unknown += [f"{where}: {name}" for name in sorted(names) if name not in exposed]
        allowed = _TARGET_LABELS | {"le"} | set().union(*(exposed.get(n, set()) for n in names))
        bad = grouping_labels(expr) - allowed
        assert not bad, f"{where}: {expr!r} groups by {bad}, which its series do not carry"
    assert not unknown, f"queries naming series /metrics does not return: {unknown}"
    # What an on-call person needs, as issue 19 lists it.
    needed = {
        "gateway_connections",
        "gateway_published_total",
        "gateway_delivered_total",
        "gateway_publish_latency_seconds_bucket",
        "gateway_backend_follower_lag_seconds",
        "gateway_backend_up",
        "gateway_connections_refused_total",
        "gateway_slow_clients_closed_total",
    }
    assert needed <= used, f"panels missing for {needed - used}"


def test_the_panels_are_laid_out_on_grafana_s_grid() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not mine & cells, f"{panel['title']!r} overlaps another panel"
        cells |= mine
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
