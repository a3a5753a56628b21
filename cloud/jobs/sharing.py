"""Pile owners' withdrawals whose outcome is not known yet (docs/sharing.md): `sending` ones
asked of WeChat Pay (商家转账 bill by out_bill_no) and the answer applied, `held` ones that
got no usable answer sent again with the same number. Needs the wallet's merchant settings
(the same WeChat Pay client); without them there is nothing to ask."""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from cloud.jobs.context import JobContext
from cloud.sharing import withdrawals


def run(ctx: JobContext) -> int:
    try:
        from cloud.wallet.settings import configured, provider_for  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return 0
    if not configured(ctx.config):
        return 0
    provider = provider_for(ctx.config, ctx.extensions)
    return withdrawals.follow_due(
        sessionmaker(ctx.engine).begin,
        provider,  # type: ignore[arg-type]
        scene_id=withdrawals.scene_id_of(ctx.config),
        now=ctx.clock(),
    )
