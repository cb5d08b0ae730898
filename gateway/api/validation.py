"""Checking JSON bodies against the request schemas in gateway.openapi before any service
is called. Covers the JSON-Schema subset those schemas use; messages name the field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.openapi import SCHEMAS

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,), "null": (type(None),),
}
_ARTICLE = {"string": "a string", "integer": "an integer", "number": "a number",
            "boolean": "true or false", "array": "a list", "object": "an object",
            "null": "null"}


INT64_LIMIT = 2**63  # every number travels on in a 64-bit (or narrower) proto field


class InvalidBody(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _is(value: Any, type_name: str) -> bool:
    if type_name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[type_name])


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return SCHEMAS[ref.rsplit("/", 1)[-1]]
    return schema


def _name(path: str) -> str:
    return path or "the body"


def check(value: Any, schema: dict[str, Any], path: str = "") -> None:
    schema = _resolve(schema)
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, t) for t in names):
            wanted = " or ".join(_ARTICLE[t] for t in names)
            raise InvalidBody(f"Field '{_name(path)}' must be {wanted}.", path or None)
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(repr(v) for v in schema["enum"])
        raise InvalidBody(f"Field '{_name(path)}' must be one of {choices}.", path)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low = schema.get("minimum", -INT64_LIMIT)
        high = schema.get("maximum", INT64_LIMIT - 1)
        if not low <= value <= high:
            raise InvalidBody(f"Field '{_name(path)}' must be from {low} to {high}.", path)
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise InvalidBody(f"Field '{_name(path)}' must not be empty.", path)
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise InvalidBody(
                f"Field '{_name(path)}' is too long (at most {schema['maxLength']}).", path)
        if schema.get("format") == "date-time":
            try:
                datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
            except ValueError:
                raise InvalidBody(f"Field '{_name(path)}' must be an ISO 8601 date-time, "
                                  "e.g. 2026-03-02T14:30:00Z.", path) from None
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise InvalidBody(f"Field '{_name(path)}' needs at least {schema['minItems']} "
                              "item(s).", path)
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise InvalidBody(
                f"Field '{_name(path)}' has too many items (at most {schema['maxItems']}).",
                path)
        items = schema.get("items")
        if items:
            for i, item in enumerate(value):
                check(item, items, f"{path}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for required in schema.get("required", []):
            if required not in value:
                field = f"{path}.{required}" if path else required
                raise InvalidBody(f"Field '{field}' is required.", field)
        if schema.get("additionalProperties") is False:
            for key in value:
                if key not in props:
                    field = f"{path}.{key}" if path else key
                    raise InvalidBody(f"Field '{field}' is not known.", field)
        for key, sub in props.items():
            if key in value:
                check(value[key], sub, f"{path}.{key}" if path else key)


def validate_body(value: Any, schema_name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidBody("The body must be a JSON object.")
    check(value, SCHEMAS[schema_name])
    return value
