"""Limits before work (issue #18): every string, list and map a request may carry has a
maximum, in every service's OpenAPI document (request bodies, nested models included,
and query parameters), and every decimal in a request body a maximum of digits. Built
from the documents and the routes, so a new route or field is covered without anyone
adding it. (Contract models: ``contracts/tests/test_bounds.py``.)"""

from __future__ import annotations

import importlib
import types
from decimal import Decimal
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from kauppa.servicekit.http import create_app
from pydantic import BaseModel
from pydantic.fields import FieldInfo

SERVICES = ("handoff", "closing", "confirmation", "followup", "webhooks", "dashboard")
# Strings only a model-level "one of these is required" hint names (their field has its own).
HINT_KEYS = {"required"}


def _is_decimal(node: dict[str, Any]) -> bool:
    """Pydantic's input schema of a ``Decimal``: a number or a string (its bound is
    ``max_digits``, which JSON Schema cannot say: checked on the models below)."""
    kinds = [o.get("type") for o in node.get("anyOf", [])]
    return sorted(str(k) for k in kinds if k != "null") == ["number", "string"]


def unbounded(doc: dict[str, Any], node: Any, where: str, seen: set[str]) -> list[str]:
    found: list[str] = []
    if not isinstance(node, dict):
        return found
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            found += unbounded(doc, doc["components"]["schemas"][name], name, seen)
        return found
    if _is_decimal(node):
        return found
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for option in node.get(key, []):
            if not (isinstance(option, dict) and HINT_KEYS & option.keys()):
                found += unbounded(doc, option, where, seen)
    bounded = (
        "maxLength" in node
        or "enum" in node
        or "const" in node
        or not any(c in node.get("pattern", "*") for c in "*+")  # e.g. ^[A-Z]{3}$
        or node.get("format") in {"date-time", "date", "binary"}
    )
    if node.get("type") == "string" and not bounded:
        found.append(where)
    if node.get("type") == "array":
        if "maxItems" not in node:
            found.append(f"{where} (list)")
        found += unbounded(doc, node.get("items"), f"{where}[]", seen)
    if isinstance(node.get("additionalProperties"), dict):
        if "maxProperties" not in node:
            found.append(f"{where} (map)")
        found += unbounded(doc, node["additionalProperties"], f"{where}{{}}", seen)
    for name, prop in node.get("properties", {}).items():
        found += unbounded(doc, prop, f"{node.get('title', where)}.{name}", seen)
    return found


def request_unbounded(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for path, item in doc["paths"].items():
        for method, spec in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            op = f"{method.upper()} {path}"
            for p in spec.get("parameters", []):
                if p["in"] == "query":
                    out += unbounded(doc, p.get("schema", {}), f"{op} ?{p['name']}", set())
            for body in spec.get("requestBody", {}).get("content", {}).values():
                out += unbounded(doc, body.get("schema", {}), f"{op} body", set())
    return sorted(set(out))


def _parts(annotation: Any) -> list[tuple[Any, list[Any]]]:
    """The types inside an annotation (unions, lists, dicts), each with the metadata of
    the ``Annotated`` it sits in."""
    out: list[tuple[Any, list[Any]]] = []
    stack: list[tuple[Any, list[Any]]] = [(annotation, [])]
    while stack:
        t, meta = stack.pop()
        origin = get_origin(t)
        if origin is Annotated:
            inner, *extra = get_args(t)
            stack.append((inner, meta + extra))
        elif origin in (Union, types.UnionType, list, tuple, set, frozenset, dict):
            stack.extend(
                (a, meta if origin in (Union, types.UnionType) else []) for a in get_args(t)
            )
        else:
            out.append((t, meta))
    return out


def decimals_without_max_digits(model: type[BaseModel], seen: set[type]) -> list[str]:
    found: list[str] = []
    if model in seen:
        return found
    seen.add(model)
    for name, field in model.model_fields.items():
        for t, meta in _parts(field.annotation):
            if t is Decimal:
                limits = [*field.metadata, *meta]
                # A bound inside an Annotated type sits in its FieldInfo's own metadata.
                limits += [x for m in limits if isinstance(m, FieldInfo) for x in m.metadata]
                if not any(getattr(m, "max_digits", None) for m in limits):
                    found.append(f"{model.__name__}.{name}")
            elif isinstance(t, type) and issubclass(t, BaseModel):
                found += decimals_without_max_digits(t, seen)
    return found


def _app_and_router(name: str) -> tuple[Any, Any]:
    bootstrap = importlib.import_module(f"kauppa.{name}.bootstrap")
    settings_module = importlib.import_module(f"kauppa.{name}.settings")
    [settings_class] = [
        v
        for k, v in vars(settings_module).items()
        if k.endswith("Settings") and k.lower() == f"{name}settings"
    ]
    router = importlib.import_module(f"kauppa.{name}.api").router
    runtime = bootstrap.build_runtime(settings_class())
    return create_app(runtime, [router], manage_runtime=False), router


@pytest.mark.parametrize("name", SERVICES)
def test_every_request_string_list_and_decimal_has_a_maximum(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAUPPA_PROFILE", "local")
    app, router = _app_and_router(name)
    assert request_unbounded(app.openapi()) == []
    models = {
        p.field_info.annotation
        for route in router.routes
        for p in getattr(getattr(route, "dependant", None), "body_params", [])
    }
    seen: set[type] = set()
    found = [
        f
        for m in models
        if isinstance(m, type) and issubclass(m, BaseModel)
        for f in decimals_without_max_digits(m, seen)
    ]
    assert found == []


def test_the_walk_finds_what_is_unbounded():
    doc = {
        "components": {
            "schemas": {
                "Inner": {"type": "object", "properties": {"note": {"type": "string"}}},
            }
        },
        "paths": {
            "/x": {
                "post": {
                    "parameters": [{"in": "query", "name": "q", "schema": {"type": "string"}}],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "inner": {"$ref": "#/components/schemas/Inner"},
                                        "tags": {"type": "array", "items": {"type": "integer"}},
                                        "map": {
                                            "type": "object",
                                            "additionalProperties": {"type": "integer"},
                                        },
                                    },
                                }
                            }
                        }
                    },
                }
            }
        },
    }
    assert request_unbounded(doc) == [
        "Inner.note",
        "POST /x ?q",
        "POST /x body.map (map)",
        "POST /x body.tags (list)",
    ]

    class Loose(BaseModel):
        amount: Decimal | None = None
        amounts: list[Decimal] = []

    assert decimals_without_max_digits(Loose, set()) == ["Loose.amount", "Loose.amounts"]
