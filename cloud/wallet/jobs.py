"""The wallet's periodic jobs (called by `jc-cloud jobs`): plain functions of a Session, a
payment provider and the time. Each commits on the session as it goes, so no transaction is
open while the provider is asked; running two at once is safe (every booking is once-only).

- reconcile_pending: payments pending longer than WALLET_RECONCILE_AFTER_S are asked about;
  paid ones are credited (their notification never came), expired or closed ones closed.
- refund_job: refund parts never sent, or still processing after WALLET_REFUND_RETRY_AFTER_S,
  are sent again with the SAME out_refund_no and booked by the answer.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.models.base import now_ms
from cloud.payments.provider import PaymentProvider
from cloud.wallet import service
from cloud.wallet.settings import WalletSettings


def reconcile_pending(s: Session, provider: PaymentProvider, now: int | None = None, *,
                      settings: WalletSettings | None = None) -> dict[str, int]:
    settings = settings or WalletSettings()
    return service.reconcile_pending(s, provider, now_ms() if now is None else now,
                                     older_than_ms=settings.reconcile_after_ms)


def refund_job(s: Session, provider: PaymentProvider, now: int | None = None, *,
               settings: WalletSettings | None = None) -> dict[str, int]:
    settings = settings or WalletSettings()
    return service.retry_refunds(s, provider, now_ms() if now is None else now,
                                 older_than_ms=settings.refund_retry_after_ms)


__all__ = ["reconcile_pending", "refund_job"]
