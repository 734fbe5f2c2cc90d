"""Turn pydantic's JSON Schema into a Kubernetes structural schema.

The API server only accepts structural OpenAPI v3 schemas: every node typed, no `$ref`, no
`anyOf` with null, no `const`/`uniqueItems`, and `additionalProperties` never beside `properties`.
Defaults are left out on purpose: the operator applies them (from the same pydantic models), so a
stored object says exactly what the user wrote and later default changes reach old objects too.
"""

from __future__ import annotations

from typing import Any

JsonSchema = dict[str, Any]

# Keywords that mean nothing to the API server or that structural schemas forbid.
_DROPPED = {"title", "default", "$defs", "examples", "uniqueItems", "discriminator"}


def structural(schema: JsonSchema, defs: JsonSchema | None = None) -> JsonSchema:
    """Return a structural copy of one pydantic JSON Schema node, with `$ref`s inlined."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return structural(merged, defs)
    if "anyOf" in schema:
        return _collapse_any_of(schema, defs)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        merged = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
        return structural(merged, defs)

    out: JsonSchema = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out["properties"] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out["items"] = structural(value, defs)
        elif key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict) and "properties" not in schema:
                out["additionalProperties"] = structural(value, defs)
            # `False` is the default for a structural schema (unknown fields are pruned).
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # JSON Schema 2020 carries the bound itself; OpenAPI v3.0 wants a boolean beside it.
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        else:
            out[key] = value
    if "properties" in out or "x-kubernetes-preserve-unknown-fields" in out:
        out.setdefault("type", "object")
    if "enum" in out and "type" not in out:
        out["type"] = _enum_type(out["enum"])
    return out


def _enum_type(values: list[Any]) -> str:
    if all(isinstance(v, str) for v in values):
        return "string"
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, int) for v in values):
        return "integer"
    return "number"


def _collapse_any_of(schema: JsonSchema, defs: JsonSchema) -> JsonSchema:
    """`X | None` becomes X (optionality is `required`'s job); `str | int` becomes int-or-string."""
    options = [o for o in schema["anyOf"] if o.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    if len(options) == 1:
        return structural({**options[0], **rest}, defs)
    kinds = {structural(o, defs).get("type") for o in options}
    if kinds == {"string", "object"}:
        # A name or an object (a typed feature): structural schemas cannot type a union, so the
        # node keeps what it is given and the operator validates it with the same pydantic model.
        node = structural(rest, defs)
        node["x-kubernetes-preserve-unknown-fields"] = True
        return node
    if kinds == {"string", "integer"}:
        node = structural(rest, defs)
        node["x-kubernetes-int-or-string"] = True
        return node
    raise ValueError(f"no structural form for anyOf with types {sorted(map(str, kinds))}")
