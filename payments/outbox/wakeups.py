"""What wakes a webhook dispatcher soon after a commit that wrote outbox events, so a webhook leaves
within milliseconds rather than at the next interval.

- In this process: a session `after_commit` event, for sessions on this database whose flush wrote
  outbox events (the hook in tables.py marks them).
- From any process, on PostgreSQL: that hook also sends `NOTIFY payrecon_outbox` in the transaction
  (delivered only if it commits); one connection here LISTENs, and reconnects if it drops.

Both only call `wake`; missing one costs at most the dispatcher's interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from payments.persistence.db import Database
from payments.persistence.tables import OUTBOX_CHANNEL, OUTBOX_WRITTEN

log = logging.getLogger("payrecon.webhooks")
RECONNECT_AFTER = 5.0


class CommitWakeups:
    def __init__(self, db: Database, wake: Callable[[], None]) -> None:
        self.db = db
        self.wake = wake
        self._engine = db.engine.sync_engine
        self._listening: asyncio.Task[None] | None = None

    def start(self) -> None:
        """In a running event loop."""
        event.listen(Session, "after_commit", self._after_commit)
        if not self.db.is_sqlite:
            self._listening = asyncio.get_running_loop().create_task(self._listen())

    async def aclose(self) -> None:
        if event.contains(Session, "after_commit", self._after_commit):
            event.remove(Session, "after_commit", self._after_commit)
        if self._listening is not None:
            self._listening.cancel()
            await asyncio.gather(self._listening, return_exceptions=True)
            self._listening = None

    def _after_commit(self, session: Session) -> None:
        if session.info.get(OUTBOX_WRITTEN) and session.bind is self._engine:
            session.info[OUTBOX_WRITTEN] = False
            self.wake()

    async def _listen(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "webhooks: the LISTEN connection failed; again in %g s", RECONNECT_AFTER, exc_info=True
                )
            await asyncio.sleep(RECONNECT_AFTER)

    async def _listen_once(self) -> None:
        lost = asyncio.Event()

        def notified(*_args: object) -> None:
            self.wake()

        def terminated(*_args: object) -> None:
            lost.set()

        async with self.db.engine.connect() as conn:
            pg = (await conn.get_raw_connection()).driver_connection
            pg.add_termination_listener(terminated)
            await pg.add_listener(OUTBOX_CHANNEL, notified)
            try:
                await lost.wait()
            finally:
                pg.remove_termination_listener(terminated)
                if not pg.is_closed():
                    await pg.remove_listener(OUTBOX_CHANNEL, notified)
