"""Bearer-token auth with roles. HS256 with a shared secret for local use; RS256 with a
public key or a JWKS endpoint in production."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from kauppa.servicekit.ids import ID_PATTERN, ID_RE
from kauppa.servicekit.settings import ServiceSettings


class Role(StrEnum):
    SELLER = "seller"
    OPS = "ops"
    ADMIN = "admin"
    INTAKE = "intake"  # upstream systems posting events


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    organisation_id: str | None = None

    def has(self, role: str) -> bool:
        # admin may do everything; ops may read what sellers read.
        return role in self.roles or Role.ADMIN in self.roles

    def may_act_in(self, organisation_id: str | None) -> bool:
        """Tenant scope: a token bound to an organisation (its ``org`` claim) acts within
        that organisation only; a platform token (no claim) in any."""
        return not self.organisation_id or organisation_id == self.organisation_id

    def may_see(self, resource_org: str | None, owner_seller: str | None) -> bool:
        """The object-level rule of every route, once: the resource is in the token's
        organisation (any, for a platform token), and the caller is ops or admin, or the
        seller who owns it (``owner_seller``; ``None``: nobody's, so no seller's)."""
        if not self.may_act_in(resource_org):
            return False
        return self.has(Role.OPS) or (owner_seller is not None and owner_seller == self.subject)

    @property
    def scope(self) -> str:
        """Who asks, for keying what a caller may repeat (Idempotency-Keys): the subject
        within its organisation, so two tenants' identical subjects never meet."""
        return f"{self.organisation_id}|{self.subject}" if self.organisation_id else self.subject


def organisation_in_scope(principal: Principal, organisation_id: str | None) -> str:
    """The organisation a request is about: the one it names, which a tenant-bound token
    must own (403 otherwise), or the token's own when it names none (422 when neither
    says). For endpoints taking ``organisation_id`` as a parameter or in the body."""
    if organisation_id:
        if not ID_RE.fullmatch(organisation_id):
            raise HTTPException(422, f"organisation_id must match {ID_PATTERN}")
        if not principal.may_act_in(organisation_id):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this token acts for organisation {principal.organisation_id} only",
            )
        return organisation_id
    if principal.organisation_id:
        return principal.organisation_id
    raise HTTPException(
        422,
        "organisation_id is required (the token is not bound to an organisation)",
    )


def tenant_filter(principal: Principal) -> dict[str, str]:
    """A query condition keeping a list to the token's organisation (none for a platform
    token)."""
    return {"organisation_id": principal.organisation_id} if principal.organisation_id else {}


def visible_to(principal: Principal, organisation_id: str | None, what: str) -> None:
    """A resource found by id belongs to the caller's organisation, or, to the caller,
    does not exist (404: a tenant cannot learn another's ids)."""
    if not principal.may_act_in(organisation_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such {what}")


DEFAULT_JWT_SECRET = "kauppa-local-development-secret-change-me"


class InsecureAuthSettings(RuntimeError):
    """The service's token settings are fit for a laptop only (raised at start-up)."""


def check_auth_settings(settings: ServiceSettings) -> None:
    """Outside ``KAUPPA_PROFILE=local`` a service refuses to start with the shipped
    default JWT secret (anyone could mint tokens) or without ``jwt_issuer`` (tokens of
    any issuer sharing the key would pass)."""
    if settings.kafka.profile == "local":
        return
    prefix = settings.model_config.get("env_prefix", "")
    problems = []
    if settings.jwt_algorithm == "HS256" and settings.jwt_secret == DEFAULT_JWT_SECRET:
        problems.append(
            f"the JWT secret is the shipped default: set {prefix}JWT_SECRET to a secret of "
            f"your own (or {prefix}JWT_ALGORITHM=RS256 with a public key or JWKS URL)"
        )
    if not settings.jwt_issuer:
        problems.append(f"no token issuer: set {prefix}JWT_ISSUER")
    if problems:
        raise InsecureAuthSettings(
            f"{settings.service_name} refuses to start outside KAUPPA_PROFILE=local: "
            + "; ".join(problems)
        )


def _organisation_claim(claims: dict[str, Any]) -> str | None:
    """The ``org`` claim: absent (a platform token) or a non-empty id; anything else
    (``""``, null, a number, an object) makes the token invalid."""
    if "org" not in claims:
        return None
    org = claims["org"]
    if not isinstance(org, str) or not ID_RE.fullmatch(org):
        raise jwt.InvalidTokenError(f"the org claim must be an id matching {ID_PATTERN}")
    return org


def _roles_claim(claims: dict[str, Any]) -> frozenset[str]:
    roles = claims.get("roles", [])
    if isinstance(roles, str):
        roles = roles.split()
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise jwt.InvalidTokenError("the roles claim must be a list of strings")
    return frozenset(roles)


def owned_by(
    principal: Principal, organisation_id: str | None, owner_seller: str | None, what: str
) -> None:
    """``Principal.may_see`` as a route's check on a resource found by id: what the
    caller may not see does not exist to it (404, the same answer as an unknown id, so
    ids of other tenants and other sellers cannot be probed)."""
    if not principal.may_see(organisation_id, owner_seller):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such {what}")


def seller_in_scope(principal: Principal, seller_id: str) -> None:
    """A route about one seller (``/sellers/{seller_id}/...``): ops and admin of the
    organisation, or that seller; others get 403."""
    if not (principal.has(Role.OPS) or principal.subject == seller_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "sellers see their own only")


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        check_auth_settings(settings)
        self.settings = settings
        self._jwks: jwt.PyJWKClient | None = (
            jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        )

    def verify(self, token: str) -> Principal:
        s = self.settings
        if s.jwt_algorithm == "HS256":
            key: Any = s.jwt_secret
        elif self._jwks is not None:
            key = self._jwks.get_signing_key_from_jwt(token).key
        elif s.jwt_public_key:
            key = s.jwt_public_key
        else:
            raise jwt.InvalidTokenError("RS256 needs jwt_public_key or jwt_jwks_url")
        claims = jwt.decode(
            token,
            key,
            algorithms=[s.jwt_algorithm],
            audience=s.jwt_audience,
            issuer=s.jwt_issuer,
            options={"require": ["sub", "exp", *(["iss"] if s.jwt_issuer else [])]},
        )
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise jwt.InvalidTokenError("the sub claim must be a non-empty string")
        return Principal(subject, _roles_claim(claims), _organisation_claim(claims))


def issue_token(
    settings: ServiceSettings,
    subject: str,
    roles: Iterable[str],
    *,
    organisation_id: str | None = None,
    ttl: timedelta = timedelta(days=30),
) -> str:
    """A local HS256 token (for ``make run``, the demo and tests)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": sorted(roles),
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl,
    }
    if organisation_id:
        claims["org"] = organisation_id
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


_bearer = HTTPBearer(auto_error=False)


def require(*roles: str) -> Callable[..., Principal]:
    """FastAPI dependency: the caller must hold one of ``roles`` (admin holds all)."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        verifier: TokenVerifier = request.app.state.token_verifier
        try:
            principal = verifier.verify(credentials.credentials)
        except jwt.PyJWTError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"invalid token: {exc}",
                headers={"WWW-Authenticate": "Bearer"},
            ) from exc
        if not any(principal.has(r) for r in roles):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs one of the roles: {', '.join(roles)}"
            )
        return principal

    return dependency
