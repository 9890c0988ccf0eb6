"""A hub with a mistake, imported by nobody but ``realtime.checks.known_hubs()`` (tests/unit/test_checks.py)."""

from realtime.hubs import Hub


class ForgottenHub(Hub):
    def Send(self, message: str) -> str:  # noqa: N802  (a plain def: clients cannot call it)
        return message
