"""The docs' configuration and metrics references cover every setting and every family.

The references are generated at docs build time by `scripts/docs_reference.py` (a MkDocs
hook); these tests hold them to the code: a setting without a description is an error, and
the metrics table names exactly the families a live gateway's `/metrics` returns, with the
same HELP text.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import Gateway
from gateway.config import Settings
from tests.support.helpers import ROOT


def _load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_reference", ROOT / "scripts" / "docs_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["docs_reference"] = module
    spec.loader.exec_module(module)
    return module


reference = _load_reference()


def _first_column(table: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE)


def test_every_setting_has_a_row_with_its_description() -> None:
    table = reference.settings_table()
    assert _first_column(table) == [f"GATEWAY_{name.upper()}" for name in Settings.model_fields]
    for name, info in Settings.model_fields.items():
        assert info.description, name
        assert " ".join(info.description.split()) in table, name


def test_a_setting_added_without_a_description_fails_the_reference() -> None:
    class Grown(Settings):
        brand_new_knob: int = 3

    with pytest.raises(reference.MissingDescription, match="brand_new_knob"):
        reference.settings_table(Grown)


def test_the_pages_hold_the_markers_the_hook_replaces() -> None:
    markers = reference.MARKERS
    config = (ROOT / "docs/operations/configuration.md").read_text()
    metrics = (ROOT / "docs/operations/metrics.md").read_text()
    assert "<!-- reference: settings -->" in config and "<!-- reference: settings -->" in markers
    for marker in ("<!-- reference: metrics -->", "<!-- reference: buckets -->"):
        assert marker in metrics and marker in markers
    page = reference.on_page_markdown(config)
    assert "<!-- reference:" not in page and "`GATEWAY_HTTP_PORT`" in page


async def test_the_metrics_table_names_every_family_a_live_gateway_exposes(
    start_gateway: Callable[..., Awaitable[Gateway]], http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway()
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/metrics") as response:
        assert response.status == 200
        scraped = list(text_string_to_metric_families(await response.text()))
    live: dict[str, Any] = {reference.scraped_name(f): f.documentation for f in scraped}
    table = reference.metric_table()
    documented = _first_column(table)
    assert sorted(documented) == sorted(live), (
        f"only live: {sorted(set(live) - set(documented))}, "
        f"only documented: {sorted(set(documented) - set(live))}"
    )
    for name, help_text in live.items():
        assert f"| `{name}` |" in table and " ".join(help_text.split()) in table, name
    buckets = reference.bucket_table()
    histograms = [f.name for f in scraped if f.type == "histogram"]
    assert histograms and _first_column(buckets) == histograms


def test_a_family_without_help_fails_the_reference() -> None:
    from prometheus_client.metrics_core import CounterMetricFamily

    with pytest.raises(reference.MissingDescription, match="gateway_mute"):
        reference.metric_table([CounterMetricFamily("gateway_mute", "", value=1)])
