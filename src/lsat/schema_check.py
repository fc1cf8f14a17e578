"""A small JSON-Schema checker for the config schema, used when jsonschema is not installed.

The GPU machines this project is lent have no package registry and no ``jsonschema``; the
core commands must still run there. This checker covers exactly the keywords that
``config.schema.yaml`` uses (``type``, ``enum``, ``properties``, ``additionalProperties``,
``required``, ``minimum``/``maximum``, ``items``, ``minItems``/``maxItems``,
``minProperties``, local ``$ref`` and ``default`` filling) and refuses a schema that uses any
other, so it can never pass silently what jsonschema would reject. It reports the first
error in the same "invalid value at <key>: <message>" form; jsonschema, when present, stays
the validator (it is what Snakemake uses too).
"""

from __future__ import annotations

import copy
from typing import Any

KNOWN = {
    "$schema", "$ref", "$defs", "title", "description", "default", "type", "enum",
    "properties", "additionalProperties", "required", "minimum", "maximum", "items",
    "minItems", "maxItems", "minProperties",
}  # fmt: skip

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "null": (type(None),),
}


class SchemaError(ValueError):
    """One validation failure: ``path`` (list of keys) and ``message``."""

    def __init__(self, path: list[Any], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False  # JSON booleans are not numbers
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[name])


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1`` and ``false`` is not ``0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    if not ref.startswith("#/"):
        raise ValueError(f"schema $ref {ref!r}: only local references are supported")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _check_scalar(value: Any, schema: dict[str, Any], path: list[Any]) -> None:
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, t) for t in names):
            raise SchemaError(path, f"{value!r} is not of type {', '.join(map(repr, names))}")
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        raise SchemaError(path, f"{value!r} is not one of {schema['enum']!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaError(path, f"{value!r} is less than the minimum of {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaError(path, f"{value!r} is greater than the maximum of {schema['maximum']}")


def _check_object(
    value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], path: list[Any]
) -> None:
    props = schema.get("properties", {})
    for name, sub in props.items():
        if "default" in sub and name not in value:
            value[name] = copy.deepcopy(sub["default"])
    for name in schema.get("required", []):
        if name not in value:
            raise SchemaError(path, f"{name!r} is a required property")
    if len(value) < schema.get("minProperties", 0):
        raise SchemaError(path, f"{value!r} should have at least {schema['minProperties']} key(s)")
    extra = schema.get("additionalProperties", True)
    for name in sorted(value, key=str):
        if name in props:
            check(value[name], props[name], root, [*path, name])
        elif extra is False:
            raise SchemaError(
                path, f"Additional properties are not allowed ({name!r} was unexpected)"
            )
        elif isinstance(extra, dict):
            check(value[name], extra, root, [*path, name])


def check(value: Any, schema: dict[str, Any], root: dict[str, Any], path: list[Any]) -> None:
    """Validate ``value`` against ``schema`` in place (filling defaults); raise SchemaError."""
    unknown = set(schema) - KNOWN
    if unknown:
        raise ValueError(f"schema keyword(s) {sorted(unknown)} at {path}: not supported")
    schema = _resolve(schema, root)
    _check_scalar(value, schema, path)
    if isinstance(value, dict):
        _check_object(value, schema, root, path)
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise SchemaError(path, f"{value!r} should have at least {schema['minItems']} item(s)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaError(path, f"{value!r} should have at most {schema['maxItems']} item(s)")
        for i, item in enumerate(value):
            if "items" in schema:
                check(item, schema["items"], root, [*path, i])
