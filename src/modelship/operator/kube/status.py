"""Writing status: minimal merge patches, and validation errors a user can act on."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

Obj = dict[str, Any]


def typed_status_patch(old: BaseModel, new: BaseModel) -> Obj:
    """The one write path of typed status: the merge patch from `old` to `new` on the wire.

    Both sides are rendered the way the API server stores them (camelCase, unset optionals left
    out), so a reconcile that changes nothing yields an empty patch and makes no API call.
    """

    def wire(model: BaseModel) -> Obj:
        return model.model_dump(mode="json", by_alias=True, exclude_none=True)

    return status_patch(wire(old), wire(new))


def status_patch(old: Obj, new: Obj) -> Obj:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`, with only what changed.

    A merge patch merges nested objects, so a key that disappeared at any depth must be sent as
    null, or the server keeps the old value beside the new ones. Lists are replaced whole.
    """
    patch: Obj = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            nested = status_patch(before, value)
            if nested:
                patch[key] = nested
        elif key not in old or before != value:
            patch[key] = value
    return patch


def first_error(exc: ValidationError, prefix: str = "spec") -> str:
    """The first validation error as `<field path>: <message>`, for a condition or an Event.

    `prefix` is the path of what was validated: "spec" for a spec alone, "" for a whole object
    (whose error locations already start at `spec`).
    """
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(p) for p in (prefix, *first.get("loc", ())) if p != "")
    return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
