"""What every service's OpenAPI document declares the same way: one error schema, the
statuses each kind of route can answer, and decimals as the contracts' amount types.

``api_router(...)`` is the APIRouter a service builds its API on: every route on it
declares 401 (no or a bad token), 403 (the token lacks the role, or names another
organisation) and 422 (the request fails validation), all with ``ErrorResponse``.
A route adds what else it can answer with ``responses=errors(404, 409)``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI
from kauppa.contracts.bounds import amount_string_pattern
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

Responses = dict[int | str, dict[str, Any]]


def _rfc3339_only(value: Any) -> Any:
    if isinstance(value, str) and not _DATE_TIME.match(value):
        raise ValueError("a date-time is written as RFC 3339, e.g. 2026-03-02T09:00:00Z")
    if not isinstance(value, str | datetime):
        raise ValueError("a date-time is written as an RFC 3339 string")
    return value


def _iso_date_only(value: Any) -> Any:
    if isinstance(value, str) and not _DATE.match(value):
        raise ValueError("a date is written as ISO 8601, e.g. 2026-03-02")
    if not isinstance(value, str | date):
        raise ValueError("a date is written as an ISO 8601 string")
    return value


def not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("an integer, not a boolean")
    return value


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")

Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]
"""A date-time with an offset, as an RFC 3339 string only (pydantic alone would also
take a number as Unix time, which the OpenAPI ``date-time`` format does not allow)."""

Day = Annotated[date, BeforeValidator(_iso_date_only)]
"""A date as an ISO 8601 string only (pydantic alone would also take a number)."""

Integer = Annotated[int, BeforeValidator(not_a_boolean)]
"""An integer in a JSON body (pydantic alone would also take ``true`` as 1)."""


class ValidationIssue(BaseModel):
    """One problem with a request (FastAPI/pydantic validation)."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int] = Field(description="Where: body, query, path or header, then the field")
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Why a request was refused. ``detail`` says it in words, or lists every validation
    issue; some refusals add machine-readable fields (e.g. ``missing``)."""

    model_config = ConfigDict(extra="allow")
    detail: str | list[ValidationIssue]


DESCRIPTIONS: dict[int, str] = {
    400: "The body cannot be read (e.g. not JSON, or not the event this route takes)",
    401: "No bearer token, or one that is invalid or expired",
    403: "The token lacks the role, or acts for another organisation",
    404: "No such resource (or, to a tenant-bound token, another organisation's)",
    409: "The resource's current state does not allow this",
    410: "The resource was erased",
    413: "The request body is too large",
    422: "The request fails validation (or an Idempotency-Key is reused with another body)",
    503: "A dependency (broker, database) does not answer",
}


def errors(*codes: int) -> Responses:
    """``responses=`` entries for these error statuses, each with ``ErrorResponse``."""
    return {code: {"model": ErrorResponse, "description": DESCRIPTIONS[code]} for code in codes}


AUTHENTICATED = errors(401, 403, 422)


def api_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes all declare 401, 403 and 422 (``ErrorResponse``)."""
    responses: Responses = {**AUTHENTICATED, **kwargs.pop("responses", {})}
    return APIRouter(responses=responses, **kwargs)


def request_body(model: type[BaseModel], *media_types: str) -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads its body itself: documents ``model`` as
    the (required) body in each media type. Its sub-schemas join the components."""
    schema = model.model_json_schema(ref_template=_REF)
    defs = schema.pop("$defs", {})
    name = model.__name__
    content = {mt: {"schema": {"$ref": _REF.format(model=name)}} for mt in media_types}
    return {
        "requestBody": {"required": True, "content": content},
        _COMPONENTS: {name: schema, **defs},
    }


_REF = "#/components/schemas/{model}"
_COMPONENTS = "x-kauppa-components"  # carried to components/schemas, then dropped


def _hoist_components(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                for name, sub in operation.pop(_COMPONENTS, {}).items():
                    components.setdefault(name, sub)


def _body_errors(schema: dict[str, Any]) -> None:
    """Every route taking a body can answer 400 (it cannot be read: e.g. not UTF-8) and
    413 (too large)."""
    error = {"$ref": _REF.format(model=ErrorResponse.__name__)}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                responses = operation.setdefault("responses", {})
                for code in (400, 413):
                    responses.setdefault(
                        str(code),
                        {
                            "description": DESCRIPTIONS[code],
                            "content": {"application/json": {"schema": error}},
                        },
                    )


# ------------------------------------------------------------------------------ decimals
# A decimal in a request or response is one of the contracts' amount types (``Amount``,
# ``PositiveAmount``, ``Percent``, ``PositivePercent``: ``kauppa.contracts.bounds``),
# whose JSON Schema says exactly what they read. A bare ``Decimal`` would be documented
# as ``anyOf: [number, string]`` though pydantic refuses most strings and huge numbers:
# the document is refused instead of published.


def decimal_pattern(number: dict[str, Any]) -> str | None:
    """The pattern of an amount's string form, given its number branch's bounds (see
    ``kauppa.contracts.bounds.amount_string_pattern``)."""
    return amount_string_pattern(number)


def _bare_decimals(node: Any, where: str) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        branches = node.get("anyOf")
        if isinstance(branches, list):
            kinds = [b.get("type") for b in branches if isinstance(b, dict)]
            strings = [b for b in branches if isinstance(b, dict) and b.get("type") == "string"]
            if "number" in kinds and strings and not any("pattern" in b for b in strings):
                found.append(where)
        for key, value in node.items():
            found += _bare_decimals(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _bare_decimals(value, f"{where}/{i}")
    return found


def finish_openapi(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document carry the bodies ``request_body`` declares, declare
    400 and 413 where a body is read, and refuse a decimal not declared as an amount."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = plain()
            _hoist_components(schema)
            _body_errors(schema)
            bare = _bare_decimals(schema, "#")
            if bare:
                raise TypeError(f"decimals not declared as a contracts amount type: {bare}")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = [
    "AUTHENTICATED",
    "DESCRIPTIONS",
    "Day",
    "ErrorResponse",
    "Integer",
    "Timestamp",
    "ValidationIssue",
    "api_router",
    "decimal_pattern",
    "finish_openapi",
    "errors",
    "not_a_boolean",
    "request_body",
]
