"""Who may call the API and open the console: bearer API tokens (for tools), hashed at rest.

`jc-cloud api-token create NAME` prints a token once; only its SHA-256 is stored. Requests
carry `Authorization: Bearer <token>`. The console accepts the same header, or a token given
once on its login page (kept in Flask's signed session cookie, checked against the database
on every request so that a revoked token stops working at once). Open without a token:
`GET /api/v1/health`, `GET /api/v1/ca` and `POST /api/v1/provision` (its one-time
provisioning token is the credential).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cloud.models import ApiToken, now_ms

PREFIX = "jct_"
OPEN_ENDPOINTS = {"api.health", "api.ca_certificate", "api.provision"}
# --- wallet: the payment provider's callbacks (their credential is the provider's signature) ---
OPEN_ENDPOINTS |= {"api.wechat_pay_notify", "api.wechat_refund_notify"}
# --- sharing: the result of a pile owner's withdrawal (商家转账回调), signed by the provider ---
OPEN_ENDPOINTS |= {"api.wechat_transfer_notify"}


@dataclass(frozen=True)
class NewApiToken:
    id: int
    name: str
    token: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_token(session: Session, name: str) -> NewApiToken:
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise ValueError("a token's name is 1 to 64 characters")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_sha256=digest(token))
    session.add(row)
    session.flush()
    return NewApiToken(row.id, name, token)


def revoke_api_token(session: Session, which: str) -> int:
    """Revoke the live tokens named `which` (or with that id); how many were revoked."""
    cond = ApiToken.name == which
    if which.isascii() and which.isdigit():
        cond = or_(cond, ApiToken.id == int(which))
    result = session.execute(
        update(ApiToken).where(cond, ApiToken.revoked_at.is_(None)).values(revoked_at=now_ms())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def authenticate(session: Session, token: str) -> ApiToken | None:
    """The live token row for a presented token, or None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    # the lookup is by hash; compare again in constant time for good measure
    if not hmac.compare_digest(row.token_sha256, digest(token)):
        return None
    return row


def token_by_id(session: Session, token_id: int) -> ApiToken | None:
    row = session.get(ApiToken, token_id)
    return row if row is not None and row.revoked_at is None else None


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
