"""The kit's OpenAPI declarations: decimals are declared as amounts, and a
405 names every method on the path."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kauppa.contracts.bounds import Amount
from kauppa.servicekit.http import _http_error
from kauppa.servicekit.openapi import ErrorResponse, decimal_pattern, finish_openapi
from pydantic import BaseModel
from starlette.exceptions import HTTPException


class Loose(BaseModel):
    price: Decimal


def test_a_decimal_not_declared_as_an_amount_is_refused_from_the_document() -> None:
    """A bare Decimal would be documented as any number or string: a lie about what
    pydantic reads. The contracts' amount types say exactly (contracts/tests)."""
    app = FastAPI()

    @app.put("/loose")
    async def put(body: Loose) -> None: ...

    finish_openapi(app)
    with pytest.raises(TypeError, match="amount type"):
        app.openapi()


@pytest.mark.parametrize(
    "number",
    [{}, {"minimum": 0}, {"exclusiveMinimum": 0}, {"minimum": 0, "maximum": 100}],
    ids=str,
)
def test_decimal_pattern_is_the_amounts(number: dict[str, Any]) -> None:
    pattern = decimal_pattern({"type": "number", **number})
    assert pattern is not None and re.fullmatch(pattern, "12.5")
    assert not re.fullmatch(pattern, "1e3") and not re.fullmatch(pattern, " 7")


class Body(BaseModel):
    price: Amount


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
