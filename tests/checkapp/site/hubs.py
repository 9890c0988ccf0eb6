"""A hub with a mistake in the project package, imported by nobody but ``realtime.checks.known_hubs()``."""

from realtime.hubs import Hub


class SiteHub(Hub):
    async def send(self) -> None:
        return None

    async def Send(self) -> None:  # noqa: N802  (differs from send only in case)
        return None
