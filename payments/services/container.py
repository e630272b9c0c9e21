"""Everything the HTTP layer, the jobs and the CLI share, built once from settings."""

from __future__ import annotations

from dataclasses import dataclass

from payments.outbox.dispatcher import Dispatcher
from payments.outbox.endpoints import WebhookService
from payments.outbox.targets import GuardedTransport, TargetPolicy
from payments.persistence.db import Database
from payments.security.pii import PiiCipher, load_keyring
from payments.security.web import load_web_secret
from payments.services.applier import PaymentApplier
from payments.services.borrower import BorrowerService
from payments.services.cases import CaseService
from payments.services.links import LinkService
from payments.services.notifications import NotificationService
from payments.services.orders import OrderService
from payments.services.rails import NotifyClientFactory, build_rails
from payments.settings import Settings
from providers.registry import Rails


@dataclass
class Services:
    settings: Settings
    db: Database
    pii: PiiCipher
    cases: CaseService
    rails: Rails
    orders: OrderService
    notifications: NotificationService
    links: LinkService
    applier: PaymentApplier
    borrower: BorrowerService
    web_secret: bytes
    public_base_url: str
    # Where the pay page's forms may go besides itself: provider pages, over https in live mode.
    pay_form_targets: str
    # Outbound webhooks: endpoints and replay (API, CLI), and the dispatcher the scheduler runs.
    webhooks: WebhookService
    webhook_dispatcher: Dispatcher

    def sandbox_cashier_url(self, rail: str, qr_payload: str) -> str | None:
        """In sandbox mode, a page a tester can open instead of scanning the provider's QR."""
        sandbox = self.rails.sandboxes.get(rail)
        if sandbox is None:
            return None
        to_cashier = getattr(sandbox, "cashier_url_for", None)
        if to_cashier is not None:
            return to_cashier(qr_payload)
        return qr_payload if qr_payload.startswith(self.public_base_url) else None

    async def aclose(self) -> None:
        await self.webhook_dispatcher.aclose()
        await self.rails.aclose()
        await self.db.dispose()


def build_services(settings: Settings, notify_client_factory: NotifyClientFactory | None = None) -> Services:
    """`notify_client_factory` is how sandboxes reach our notify URLs (tests route it into the app)."""
    db = Database(settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo)
    # Sandbox mode makes its own keyring on first start; live mode must be given one.
    keyring_path = settings.pii_keyring_path
    pii = PiiCipher(
        load_keyring(keyring_path, create=settings.mode == "sandbox"),
        reload=lambda: load_keyring(keyring_path, create=False),
    )
    rails = build_rails(settings, notify_client_factory)
    base_url = settings.server.public_base_url.rstrip("/")
    orders = OrderService(db, rails.providers, base_url)
    applier = PaymentApplier(db)
    # Webhooks: https only in live mode; loopback in sandbox; private ranges only when configured.
    targets = TargetPolicy(
        live=settings.mode == "live", allow_private=settings.webhooks.allow_private_targets
    )
    dispatcher = Dispatcher(db, pii, transport=GuardedTransport(targets), timeout=settings.webhooks.timeout)
    return Services(
        settings=settings,
        db=db,
        pii=pii,
        cases=CaseService(db, pii),
        rails=rails,
        orders=orders,
        notifications=NotificationService(db, rails.providers, on_payment=applier.wake),
        applier=applier,
        links=LinkService(db, pii, base_url, tuple(rails.providers)),
        borrower=BorrowerService(db, pii, orders),
        web_secret=load_web_secret(settings.web_secret_path, create=settings.mode == "sandbox"),
        public_base_url=base_url,
        pay_form_targets="https:" if settings.mode == "live" else "",
        webhooks=WebhookService(db, pii, targets, on_queued=dispatcher.wake),
        webhook_dispatcher=dispatcher,
    )
