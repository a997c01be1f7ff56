"""The kit's OpenAPI declarations: decimal string patterns agree with pydantic, and a
405 names every method on the path."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kauppa.servicekit.http import _http_error
from kauppa.servicekit.openapi import ErrorResponse, decimal_pattern, finish_openapi
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException

SPELLINGS = [
    *("0", "5", "+5", "-5", "-0", "-0.0", "5.", ".5", "00.5", "0.0", ".0", "-.0", "099.9"),
    *("100", "100.0", "100.01", "0100", "1000", " 7 ", "1e1", "2.5E-3", "-1e-3", "1e"),
    *("", ".", "+", "-", "NaN", "inf", "-Infinity", "1.2.3", "0x10", "abc", "1,5"),
]


@pytest.mark.parametrize(
    ("constraints", "number"),
    [
        ({}, {}),
        ({"ge": 0}, {"minimum": 0}),
        ({"gt": 0}, {"exclusiveMinimum": 0}),
        ({"ge": 0, "le": 100}, {"minimum": 0, "maximum": 100}),
        ({"gt": 0, "le": 100}, {"exclusiveMinimum": 0, "maximum": 100}),
    ],
)
def test_decimal_patterns_accept_what_pydantic_accepts(
    constraints: dict[str, Any], number: dict[str, Any]
) -> None:
    class M(BaseModel):
        x: Annotated[Decimal, Field(**constraints)]

    pattern = decimal_pattern({"type": "number", **number})
    assert pattern is not None
    for text in SPELLINGS:
        if "maximum" in number and re.search("[eE]", text):
            continue  # exponents are accepted below a maximum but not documented there
        try:
            M(x=text)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == bool(re.search(pattern, text)), text


class Body(BaseModel):
    price: Decimal


def test_a_405_names_every_method_on_the_path_and_bodies_declare_400_and_413() -> None:
    app = FastAPI()

    @app.put("/things/{thing_id}")
    async def put(thing_id: str, body: Body) -> None: ...

    @app.get("/things/{thing_id}")
    async def get(thing_id: str) -> None: ...

    finish_openapi(app)
    app.add_exception_handler(HTTPException, _http_error)
    response = TestClient(app).delete("/things/1")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT"}
    ErrorResponse.model_validate(response.json())
    put_doc = app.openapi()["paths"]["/things/{thing_id}"]["put"]
    assert {"400", "413"} <= set(put_doc["responses"])
    price = app.openapi()["components"]["schemas"]["Body"]["properties"]["price"]
    assert any("pattern" in branch for branch in price["anyOf"])
