"""The in-process mirror of the revocation denylist, so that checking a token costs no database trip.

This process adds its own revocations at once (:meth:`Denylist.add`); :meth:`Denylist.sync` pulls the
entries other processes wrote, by cursor, and the service calls it every ``revocation_sync_interval``
seconds. Entries are dropped when they expire, so the mirror stays as small as the live denylist.
"""

from __future__ import annotations

from jwtgate.service.ports import RevocationStore
from jwtgate.service.records import Revocation

__all__ = ["Denylist"]

_PAGE = 1000


class Denylist:
    def __init__(self) -> None:
        self._sids: dict[str, float] = {}
        self._jtis: dict[str, float] = {}
        self.cursor = 0  # highest cursor read from the store (own additions do not move it)

    def __len__(self) -> int:
        return len(self._sids) + len(self._jtis)

    def add(self, entry: Revocation) -> None:
        table = self._sids if entry.kind == "sid" else self._jtis
        if table.get(entry.value, float("-inf")) < entry.expires_at:
            table[entry.value] = entry.expires_at

    def is_revoked(self, sid: object, jti: object, now: float) -> bool:
        """True when the session or the token is on the list and the entry has not expired."""
        until = self._sids.get(sid) if isinstance(sid, str) else None
        if until is not None and now < until:
            return True
        until = self._jtis.get(jti) if isinstance(jti, str) else None
        return until is not None and now < until

    async def sync(self, store: RevocationStore, now: float) -> int:
        """Read the store's entries past :attr:`cursor`; returns how many were read."""
        read = 0
        while True:
            page = await store.revocations(after=self.cursor, limit=_PAGE, now=now)
            for entry in page:
                self.add(entry)
            read += len(page)
            if page:
                self.cursor = page[-1].cursor
            if len(page) < _PAGE:
                return read

    def prune(self, now: float) -> int:
        dropped = 0
        for table in (self._sids, self._jtis):
            dead = [value for value, until in table.items() if until <= now]
            for value in dead:
                del table[value]
            dropped += len(dead)
        return dropped
