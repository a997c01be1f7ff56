"""A domain refusal becomes its HTTP status at the edge, with its fields as the body."""

from __future__ import annotations

from fastapi import APIRouter
from kauppa.devkit.testing.http import asgi_client
from kauppa.servicekit.http import create_app
from kauppa.servicekit.refusals import Conflict, Forbidden, Invalid, NotFound, Refusal
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import KafkaSettings, ServiceSettings


class CloseRefused(Invalid):
    pass


RAISED: dict[str, Refusal] = {
    "missing": CloseRefused("items missing", missing=["payment_terms"]),
    "gone": NotFound("no such deal"),
    "theirs": Forbidden("not your lead"),
    "closed": Conflict("already closed", state="closed"),
    "plain": Refusal("no"),
}
router = APIRouter()


@router.post("/things/{name}")
async def act(name: str) -> None:
    raise RAISED[name]


async def test_each_refusal_has_its_status_and_body() -> None:
    settings = ServiceSettings(service_name="refusals", kafka=KafkaSettings(profile="local"))
    app = create_app(ServiceRuntime(settings), [router], manage_runtime=False)
    async with asgi_client(app) as http:
        answers = {name: await http.post(f"/things/{name}") for name in RAISED}
    assert {n: r.status_code for n, r in answers.items()} == {
        "missing": 422,
        "gone": 404,
        "theirs": 403,
        "closed": 409,
        "plain": 422,
    }
    assert answers["missing"].json() == {"detail": "items missing", "missing": ["payment_terms"]}
    assert answers["closed"].json() == {"detail": "already closed", "state": "closed"}
