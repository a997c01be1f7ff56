"""Bearer tokens: HS256 locally, RS256 with a public key in production; roles enforced."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from kauppa.servicekit.auth import Principal, TokenVerifier, issue_token, require
from kauppa.servicekit.settings import ServiceSettings


def app_with(settings: ServiceSettings) -> FastAPI:
    app = FastAPI()
    app.state.token_verifier = TokenVerifier(settings)

    @app.get("/ops-only")
    def ops_only(who: Principal = Depends(require("ops"))) -> dict[str, str]:
        return {"sub": who.subject}

    return app


async def call(app: FastAPI, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        return await http.get("/ops-only", headers=headers)


async def test_hs256_roles_are_enforced():
    settings = _local()
    app = app_with(settings)
    assert (await call(app, None)).status_code == 401
    assert (await call(app, "not-a-jwt")).status_code == 401
    assert (await call(app, issue_token(settings, "s-1", ["seller"]))).status_code == 403
    ok = await call(app, issue_token(settings, "o-1", ["ops"]))
    assert ok.status_code == 200 and ok.json() == {"sub": "o-1"}
    assert (await call(app, issue_token(settings, "a-1", ["admin"]))).status_code == 200
    other = ServiceSettings(service_name="auth", jwt_secret="another-secret-entirely-32bytes!")
    assert (await call(app, issue_token(other, "o-2", ["ops"]))).status_code == 401


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


async def test_rs256_with_a_public_key(rsa_keys):
    private, public = rsa_keys
    settings = ServiceSettings(
        service_name="auth", jwt_algorithm="RS256", jwt_public_key=public, jwt_issuer="idp"
    )
    app = app_with(settings)
    now = datetime.now(UTC)
    claims = {
        "sub": "ops-9",
        "roles": ["ops"],
        "aud": "kauppa",
        "iss": "idp",
        "exp": now + timedelta(minutes=5),
    }
    good = jwt.encode(claims, private, algorithm="RS256")
    assert (await call(app, good)).status_code == 200
    wrong_issuer = jwt.encode({**claims, "iss": "evil"}, private, algorithm="RS256")
    assert (await call(app, wrong_issuer)).status_code == 401
    expired = jwt.encode({**claims, "exp": now - timedelta(minutes=1)}, private, algorithm="RS256")
    assert (await call(app, expired)).status_code == 401
    # An HS256 token signed with the public key as its secret must not pass (algorithm
    # confusion). PyJWT refuses to sign with a PEM key as HMAC secret, so sign by hand.
    confused = _hs256_signed(claims, public.encode())
    assert (await call(app, confused)).status_code == 401
    # The local secret under RS256 settings is refused as well.
    local = jwt.encode(claims, "kauppa-local-development-secret-change-me", algorithm="HS256")
    assert (await call(app, local)).status_code == 401


def _hs256_signed(claims: dict[str, Any], secret: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims, default=lambda t: int(t.timestamp())).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def test_tenant_scope_of_a_token():
    """A token with an ``org`` claim acts in that organisation only; a platform token
    (no claim) in any, but must then name one."""
    from fastapi import HTTPException
    from kauppa.servicekit.auth import organisation_in_scope, visible_to

    tenant = Principal("ops-a", frozenset({"ops"}), "org-a")
    platform = Principal("ops-x", frozenset({"ops"}))
    assert tenant.may_act_in("org-a") and not tenant.may_act_in("org-b")
    assert platform.may_act_in("org-a") and platform.may_act_in("org-b")
    assert organisation_in_scope(tenant, None) == "org-a"
    assert organisation_in_scope(tenant, "org-a") == "org-a"
    assert organisation_in_scope(platform, "org-b") == "org-b"
    with pytest.raises(HTTPException) as refused:
        organisation_in_scope(tenant, "org-b")
    assert refused.value.status_code == 403
    with pytest.raises(HTTPException) as unnamed:
        organisation_in_scope(platform, None)
    assert unnamed.value.status_code == 422
    visible_to(tenant, "org-a", "lead")
    visible_to(platform, "org-b", "lead")
    with pytest.raises(HTTPException) as hidden:
        visible_to(tenant, "org-b", "lead")
    assert hidden.value.status_code == 404


async def test_the_org_claim_reaches_the_principal():
    settings = _local()
    verifier = TokenVerifier(settings)
    bound = verifier.verify(issue_token(settings, "o-1", ["ops"], organisation_id="org-a"))
    assert bound.organisation_id == "org-a"
    assert verifier.verify(issue_token(settings, "o-2", ["ops"])).organisation_id is None


# ------------------------------------------------------------------ token rules (#18)


def _local(**overrides: Any) -> ServiceSettings:
    from kauppa.servicekit.settings import KafkaSettings

    return ServiceSettings(service_name="auth", kafka=KafkaSettings(profile="local"), **overrides)


def _signed(settings: ServiceSettings, **claims: Any) -> str:
    now = datetime.now(UTC)
    base: dict[str, Any] = {"sub": "o-1", "roles": ["ops"], "aud": "kauppa"}
    base["exp"] = now + timedelta(minutes=5)
    base.update(claims)
    return jwt.encode(base, settings.jwt_secret, algorithm="HS256")


@pytest.mark.parametrize("org", ["", None, 7, {"id": "org-a"}, ["org-a"], "org a", "../x"])
async def test_an_org_claim_that_is_not_a_non_empty_id_is_refused(org: Any):
    """``"org": ""`` acted as a platform token; any org claim that is not an id is 401."""
    settings = _local()
    assert (await call(app_with(settings), _signed(settings, org=org))).status_code == 401
    assert (await call(app_with(settings), _signed(settings, org="org-a"))).status_code == 200


async def test_roles_and_subject_claims_must_have_their_types():
    settings = _local()
    app = app_with(settings)
    assert (await call(app, _signed(settings, roles={"ops": True}))).status_code == 401
    assert (await call(app, _signed(settings, sub=""))).status_code == 401


def test_production_refuses_the_shipped_default_secret_and_a_missing_issuer():
    from kauppa.servicekit.auth import InsecureAuthSettings
    from kauppa.servicekit.settings import KafkaSettings

    production = KafkaSettings(profile="production")
    with pytest.raises(InsecureAuthSettings, match="JWT_SECRET"):
        TokenVerifier(ServiceSettings(service_name="auth", kafka=production, jwt_issuer="idp"))
    with pytest.raises(InsecureAuthSettings, match="JWT_ISSUER"):
        TokenVerifier(ServiceSettings(service_name="auth", kafka=production, jwt_secret="s" * 40))
    TokenVerifier(
        ServiceSettings(service_name="auth", kafka=production, jwt_secret="s" * 40, jwt_issuer="i")
    )
    TokenVerifier(_local())  # the laptop profile keeps the default


async def test_with_an_issuer_set_a_token_without_one_is_refused():
    settings = _local(jwt_issuer="idp")
    app = app_with(settings)
    assert (await call(app, _signed(settings))).status_code == 401
    assert (await call(app, _signed(settings, iss="idp"))).status_code == 200
