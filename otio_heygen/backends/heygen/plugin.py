"""The ``heygen`` entry point of the ``otio_heygen.backends`` group: builds the HeyGen v3 backend from settings.

Adds the optional ``HasAccount`` capability of ``otio_heygen.run.registry`` (the balance, read before a
paid run and by ``otio-heygen account``).
"""

from __future__ import annotations

from otio_heygen.backends.heygen.assets import AssetCache, account_fingerprint
from otio_heygen.backends.heygen.backend import DEFAULT_PRICE_PER_SECOND, HeyGenBackend
from otio_heygen.backends.heygen.client import HeyGenClient
from otio_heygen.backends.heygen.http import DEFAULT_BASE_URL, build_http_client
from otio_heygen.errors import ConfigError
from otio_heygen.run.ledger import account_for_key
from otio_heygen.run.registry import Account, BackendSettings

__all__ = ["HeyGenService", "create"]


class HeyGenService(HeyGenBackend):
    """``HeyGenBackend`` plus the account capability the pipeline looks for."""

    def account_info(self) -> Account:
        me = self.account()  # a refused key raises Unauthorized (a HeyGen AuthenticationError)
        return Account(name=me.username, balance=me.balance, currency=me.currency, billing_type=me.billing_type)


def create(settings: BackendSettings) -> HeyGenService:
    """Build the backend: one httpx client (the only holder of the key), the asset cache, injected time."""
    if not settings.api_key:
        raise ConfigError("No HeyGen API key found - set HEYGEN_API_KEY or run with --backend preview")
    http = build_http_client(settings.api_key, settings.api_url or DEFAULT_BASE_URL, concurrency=settings.concurrency)
    client = HeyGenClient(http, sleep=settings.sleep, clock=settings.clock)
    use_cache = bool(settings.options.get("use_asset_cache", True))
    price = settings.price_per_second if settings.price_per_second is not None else DEFAULT_PRICE_PER_SECOND
    return HeyGenService(
        client,
        account=account_fingerprint(settings.api_key),
        price_per_second=price,
        asset_cache=AssetCache(settings.asset_cache) if use_cache else None,
        ledger_account=account_for_key("heygen", settings.api_key),
    )
