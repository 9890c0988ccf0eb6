"""Where the project lives: the one source of its public addresses.

An installed package has no ``docs/`` folder, so messages that send a reader to a document name its URL.
``pyproject.toml`` (``[project.urls]``) and the README's links repeat these addresses, as Markdown and TOML
cannot import them; ``tests/unit/test_links.py`` holds both to this module.
"""

from __future__ import annotations

REPOSITORY = "https://github.com/django-realtime-hubs/django-realtime-hubs"
BRANCH = "main"


def doc_url(name: str) -> str:
    """The public address of ``docs/<name>`` (``doc_url("deployment.md")``)."""
    return f"{REPOSITORY}/blob/{BRANCH}/docs/{name}"
