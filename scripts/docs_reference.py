"""The configuration and metrics references of the docs, generated from the code at build time.

A MkDocs hook (`hooks:` in mkdocs.yml): a page holding `<!-- reference: settings -->`,
`<!-- reference: metrics -->` or `<!-- reference: buckets -->` gets the table in its place.
The settings come from `gateway.config.Settings` (each field's docstring, read by pydantic,
its default and its constraints); the metric families from the registry of a real, unstarted
`Gateway`, the same collectors a scrape of `/metrics` runs, with their HELP text. So neither
table can drift from the code, and a new setting or family needs only its own description:
one without is an error here, which fails `mkdocs build --strict` (and the tests that call
these functions).

Why a hook rather than a generated file checked by a test: nothing to regenerate and commit,
so no stale copy to catch; the price is that the raw Markdown shows the marker, not the
table, outside the built site.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from prometheus_client.metrics_core import Metric
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from gateway.app import Gateway
from gateway.config import Settings

__all__ = [
    "MARKERS",
    "MissingDescription",
    "bucket_table",
    "exposed_families",
    "metric_table",
    "on_page_markdown",
    "scraped_name",
    "settings_table",
]


class MissingDescription(Exception):
    """A setting or a metric family without the text its reference row needs."""


def settings_table(settings: type[BaseSettings] = Settings) -> str:
    """One row per setting: variable, default, accepted values, description.

    The flag is the variable's name without the prefix, lower case, `_` as `-`; the page
    says so once rather than spending a narrow column on it.
    """
    rows = ["| variable | default | accepts | meaning |", "|---|---|---|---|"]
    for name, info in settings.model_fields.items():
        if not info.description or not info.description.strip():
            raise MissingDescription(
                f"setting {name!r} has no description: write a docstring under it in "
                "gateway/config.py"
            )
        rows.append(
            f"| `GATEWAY_{name.upper()}` | {_default(info)} | {_accepts(info)} "
            f"| {_cell(info.description)} |"
        )
    return "\n".join(rows)


def exposed_families() -> list[Metric]:
    """The families a scrape of a gateway with the default settings returns, in order."""
    # model_construct: the defaults as written, not whatever GATEWAY_* the build sees.
    gateway = Gateway(Settings.model_construct())
    return list(gateway.registry.collect())


def scraped_name(family: Metric) -> str:
    """The name Prometheus scrapes: counters carry `_total`, which the family name omits."""
    return f"{family.name}_total" if family.type == "counter" else family.name


def metric_table(families: Iterable[Metric] | None = None) -> str:
    """One row per family: name as scraped, type, labels, HELP."""
    rows = ["| family | type | labels | meaning (HELP) |", "|---|---|---|---|"]
    for family in exposed_families() if families is None else families:
        if not family.documentation.strip():
            raise MissingDescription(f"metric family {family.name!r} has no HELP text")
        # A labelled family with no sample yet (refusals before the first one) still
        # knows its label names, in the attribute its constructor keeps them in.
        names = set(getattr(family, "_labelnames", ()))
        names |= {key for sample in family.samples for key in sample.labels}
        labels = sorted(names - {"le"})
        rows.append(
            f"| `{scraped_name(family)}` | {family.type} "
            f"| {', '.join(f'`{label}`' for label in labels)} | {_cell(family.documentation)} |"
        )
    return "\n".join(rows)


def bucket_table(families: Iterable[Metric] | None = None) -> str:
    """Each histogram's bucket upper bounds (`le`), as the scrape shows them."""
    rows = ["| histogram | buckets (`le`, plus `+Inf`) |", "|---|---|"]
    for family in exposed_families() if families is None else families:
        if family.type != "histogram":
            continue
        bounds = [
            sample.labels["le"]
            for sample in family.samples
            if sample.name.endswith("_bucket") and sample.labels["le"] != "+Inf"
        ]
        rows.append(f"| `{family.name}` | {', '.join(_number(float(b)) for b in bounds)} |")
    return "\n".join(rows)


#: What each marker in a page is replaced with.
MARKERS: dict[str, Callable[[], str]] = {
    "<!-- reference: settings -->": settings_table,
    "<!-- reference: metrics -->": metric_table,
    "<!-- reference: buckets -->": bucket_table,
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    """The MkDocs hook: replaces every marker the page holds."""
    for marker, make in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown


def _cell(text: str) -> str:
    """Multi-line text as one table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _default(info: FieldInfo) -> str:
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if isinstance(value, float | int):
        return f"`{_number(value)}`"
    return f"`{value}`"


def _accepts(info: FieldInfo) -> str:
    """What the value may be, from the annotation and its constraints."""
    kind, rules = _base(info.annotation)
    parts: list[str] = []
    if get_origin(kind) is Literal:
        parts.append(" / ".join(f"`{choice}`" for choice in get_args(kind)))
    elif kind is bool:
        parts.append("`0` or `1`")
    elif kind is SecretStr:
        parts.append("text (secret: never printed)")
    elif kind is int:
        parts.append("integer")
    elif kind is float:
        parts.append("number")
    elif getattr(kind, "__name__", "") == "Path":
        parts.append("a readable file")
    else:
        parts.append("text")
    for rule in [*rules, *info.metadata]:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            bound = getattr(rule, attr, None)
            if bound is not None:
                parts.append(f"{sign} {_number(bound)}")
        if isinstance(rule, annotated_types.MinLen):
            parts.append("not empty")
        pattern = getattr(rule, "pattern", None)
        if pattern is not None:
            parts.append(f"matching `{pattern}`")
    return ", ".join(parts)


def _base(annotation: Any) -> tuple[Any, list[Any]]:
    """The annotation without `| None` and `Annotated`, and the constraints `Annotated` held
    (pydantic lifts them into the field's metadata only when the field is not optional)."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(rest) == 1:
            annotation = rest[0]
    rules: list[Any] = []
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        for item in extra:
            rules.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return annotation, rules
