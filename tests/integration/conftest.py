import pytest


@pytest.fixture(autouse=True)
def _realtime_cleanup(realtime_cleanup):
    """Every test here leaves no connection table or layer state behind."""
