"""Settings and the scheduler job that runs the dispatcher."""

from __future__ import annotations

import msgspec

from payments.services.container import build_services
from payments.settings import ServerSettings, WebhookSettings, load_settings
from reconciliation.scheduler import build_scheduler


def test_webhook_defaults_refuse_private_targets_and_wait_15_seconds():
    s = load_settings({})
    assert (s.webhooks.allow_private_targets, s.webhooks.timeout) == (False, 15.0)


def test_webhook_settings_come_from_the_environment():
    s = load_settings(
        {"PAYRECON_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true", "PAYRECON_WEBHOOKS__DISPATCH_INTERVAL": "0.5"}
    )
    assert (s.webhooks.allow_private_targets, s.webhooks.dispatch_interval) == (True, 0.5)


async def test_the_scheduler_runs_the_dispatcher_at_the_configured_interval(settings):
    own = msgspec.structs.replace(
        settings,
        webhooks=WebhookSettings(dispatch_interval=2.5),
        server=ServerSettings(embedded_worker=False),
    )
    services = build_services(own)
    try:
        job = build_scheduler(services).get_job("dispatch_webhooks")
        assert job.trigger.interval.total_seconds() == 2.5
    finally:
        await services.aclose()
