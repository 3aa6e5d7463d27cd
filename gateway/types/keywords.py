"""The JSON Schema 2020-12 vocabulary: which keywords exist and where subschemas sit.

The specification lets a validator ignore keywords it does not know, so a typo (`requried`,
`maxLenght`) silently validates nothing. The registry refuses them at load time instead;
to find them, and every `$ref`, it walks a schema knowing which keyword holds a subschema,
a list of them or a map of them, and which holds plain data (`enum`, `const`, `default`,
`examples`), which is never walked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["KNOWN", "REFUSED", "unknown_keyword_rule", "walk"]

#: Keywords whose value is one subschema.
_ONE = frozenset(
    {
        "not",
        "if",
        "then",
        "else",
        "items",
        "contains",
        "additionalProperties",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
#: Keywords whose value is a list of subschemas.
_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
#: Keywords whose value maps names to subschemas.
_MAP = frozenset({"$defs", "properties", "patternProperties", "dependentSchemas"})
#: Every other keyword of the 2020-12 vocabularies (core, validation, meta-data, format,
#: content); their values are not schemas.
_OTHER = frozenset(
    {
        "$schema",
        "$id",
        "$ref",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$vocabulary",
        "$comment",
        "type",
        "enum",
        "const",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "required",
        "dependentRequired",
        "title",
        "description",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "examples",
        "format",
        "contentEncoding",
        "contentMediaType",
    }
)
KNOWN = _ONE | _LIST | _MAP | _OTHER

#: Keywords 2020-12 has that a registry schema may not use: the registry names each schema
#: (its URI is the type's name), and an `$id` would move every relative `$ref` under it.
REFUSED = {"$id": "the registry names each schema: refer to others by name ($ref: money)"}

#: What an older draft's keyword is called in 2020-12, for the error message.
_RENAMED = {
    "definitions": "$defs",
    "dependencies": "dependentRequired or dependentSchemas",
    "additionalItems": "items (with prefixItems)",
    "$recursiveRef": "$dynamicRef",
    "$recursiveAnchor": "$dynamicAnchor",
}


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def walk(schema: Any, pointer: str = "") -> Iterator[tuple[str, str, Any]]:
    """(`pointer`, `keyword`, `value`) for every keyword of `schema` and its subschemas,
    in document order; `pointer` is the JSON pointer of the keyword."""
    if not isinstance(schema, dict):
        return  # true / false, or a wrong type the meta-schema check reports
    for keyword, value in schema.items():
        here = f"{pointer}/{_escape(keyword)}"
        yield here, keyword, value
        if keyword in _ONE:
            yield from walk(value, here)
        elif keyword in _LIST and isinstance(value, list):
            for i, item in enumerate(value):
                yield from walk(item, f"{here}/{i}")
        elif keyword in _MAP and isinstance(value, dict):
            for name, item in value.items():
                yield from walk(item, f"{here}/{_escape(name)}")


def unknown_keyword_rule(keyword: str) -> str:
    """Why `keyword` is refused, with the 2020-12 spelling when it is an older draft's."""
    if keyword in _RENAMED:
        return f"{keyword!r} is not a JSON Schema 2020-12 keyword: use {_RENAMED[keyword]}"
    return f"{keyword!r} is not a JSON Schema 2020-12 keyword"
