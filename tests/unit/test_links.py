"""Public addresses: ``realtime/links.py`` is their one source. ``pyproject.toml``, the README (which PyPI and an
installed wheel's metadata show without the repository around it) and the messages that send a reader to a
document follow it, every document they name exists, and the classifiers follow the supported versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from django.core import checks
from django.test import override_settings
from packaging.requirements import Requirement
from packaging.version import Version

from realtime.links import BRANCH, REPOSITORY, doc_url

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
README = (REPO / "README.md").read_text()
# Inline links and images `[text](target)`, and reference definitions `[name]: target`.
LINK = re.compile(r"\]\(([^)\s]+)\)|^\[[^\]]+\]:\s*(\S+)", re.MULTILINE)


def test_project_urls_are_the_repositorys():
    urls = PROJECT["urls"]
    assert {"Homepage", "Documentation", "Repository", "Issues"} <= set(urls)
    for name, url in urls.items():
        assert re.fullmatch(rf"{re.escape(REPOSITORY)}([/#].*|\.git)?", url), f"{name} = {url}"


def test_readme_links_work_outside_the_repository():
    """Every link is absolute, and every link into the repository names a file it has."""
    targets = [inline or reference for inline, reference in LINK.findall(README)]
    assert doc_url("deployment.md") in targets
    for target in targets:
        assert target.startswith("https://"), f"{target!r} is relative: it breaks on PyPI and in an installed wheel"
        for kind in ("blob", "raw"):
            prefix = f"{REPOSITORY}/{kind}/{BRANCH}/"
            if target.startswith(prefix):
                assert (REPO / target.removeprefix(prefix)).is_file(), f"{target} names no file of the repository"


@override_settings(CHANNEL_LAYERS={})
def test_the_e001_hint_names_the_document_by_its_url():
    (error,) = [message for message in checks.run_checks(databases=[]) if message.id == "realtime.E001"]
    assert doc_url("deployment.md") in error.hint
    assert (REPO / "docs" / "deployment.md").is_file()


def test_no_module_names_a_document_by_a_relative_path():
    """An installed package has no docs/ folder: messages name documents with ``doc_url``."""
    for path in (REPO / "realtime").rglob("*.py"):
        if path.name != "links.py":
            assert not re.search(r"(?<![\w/.])docs/\w", path.read_text()), f"{path} names docs/ by a relative path"


def listed_versions(prefix: str) -> list[Version]:
    pattern = re.compile(rf"{re.escape(prefix)} :: (\d+\.\d+)")
    return [Version(match[1]) for classifier in PROJECT["classifiers"] if (match := pattern.fullmatch(classifier))]


def lowest(specifier) -> Version:
    return min(Version(clause.version) for clause in specifier if clause.operator == ">=")


def test_classifiers_follow_the_supported_versions():
    """Each Django and Python version classifier is allowed by the requirements, the lowest allowed is listed."""
    (django,) = [Requirement(dep) for dep in PROJECT["dependencies"] if Requirement(dep).name.lower() == "django"]
    python = Requirement(f"python{PROJECT['requires-python']}").specifier
    for prefix, specifier in (("Framework :: Django", django.specifier), ("Programming Language :: Python", python)):
        listed = listed_versions(prefix)
        assert lowest(specifier) in listed, prefix
        assert all(specifier.contains(version) for version in listed), (prefix, listed, str(specifier))
    assert "Framework :: Django" in PROJECT["classifiers"]
