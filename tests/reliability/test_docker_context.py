"""The image's build context: secrets and local state never reach `docker build` (.dockerignore), and the Dockerfile
copies only Streamlit's config from .streamlit/, so a local secrets.toml cannot land in an image layer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _pattern(glob: str) -> re.Pattern:
    """Docker's .dockerignore glob (Go's filepath.Match plus ``**``) as a regex over slash-separated paths."""
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**", i):
            i += 2
            if glob.startswith("/", i):  # "**/" matches zero or more directories
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        out.append({"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c)))
        i += 1
    return re.compile("".join(out))


def _rules(text: str) -> list[tuple[bool, re.Pattern]]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        glob = line[1:].strip() if negate else line
        glob = re.sub(r"/+", "/", glob).strip("/")  # Docker cleans patterns: leading and trailing slashes go
        rules.append((negate, _pattern(glob)))
    return rules


def excluded(path: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Whether ``path`` (relative to the context) is left out of the build context: the last rule that matches the
    path or one of its parent directories decides (a matched directory excludes everything in it)."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    verdict = False
    for negate, rx in rules:
        if any(rx.fullmatch(p) for p in prefixes):
            verdict = not negate
    return verdict


@pytest.fixture(scope="module")
def rules() -> list[tuple[bool, re.Pattern]]:
    path = ROOT / ".dockerignore"
    assert path.exists(), "no .dockerignore: docker build would send secrets.toml, var/ and .venv/ to the daemon"
    return _rules(path.read_text())


def test_the_matcher_follows_docker_semantics():
    r = _rules("var/\n**/secrets.toml\n*.egg-info/\n!keep/var\n")
    assert excluded("var/store/writer.duckdb", r) and excluded("a/b/secrets.toml", r) and excluded("secrets.toml", r)
    assert excluded("sextant.egg-info/PKG-INFO", r)
    assert not excluded("dashboard/var.py", r) and not excluded("keep/var", r)


@pytest.mark.parametrize("path", [
    ".streamlit/secrets.toml", "var/store/writer.duckdb", "var/store/snapshots/7.duckdb", "var/audit.sqlite",
    ".venv/bin/python", ".git/config", ".pytest_cache/v/cache/nodeids", "sextant.egg-info/PKG-INFO",
    "test-artifacts/walk/overview.png", "tests/conftest.py", "dashboard/__pycache__/ui.cpython-311.pyc", ".env",
    "demo/.env", "bench/out/store.duckdb", "some/where/audit.sqlite", "dashboard/.streamlit/secrets.toml",
])
def test_secrets_state_and_tooling_stay_out_of_the_build_context(rules, path):
    assert excluded(path, rules), f"{path} would be sent to docker build"


def _copy_sources() -> list[str]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    sources = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0].upper() in ("COPY", "ADD"):
            args = [w for w in words[1:] if not w.startswith("--")]
            sources += args[:-1]
    return sources


def test_every_file_the_dockerfile_copies_is_in_the_context(rules):
    for src in _copy_sources():
        files = [src] if (ROOT / src).is_file() else [str(p.relative_to(ROOT)) for p in (ROOT / src).rglob("*.py")]
        assert files, src
        kept = [f for f in files if not excluded(f, rules)]
        assert kept, f"COPY {src}: everything it names is excluded by .dockerignore"


def test_the_dockerfile_copies_only_config_toml_from_streamlit():
    streamlit = [s for s in _copy_sources() if Path(s).parts[:1] == (".streamlit",) or s in (".", "./")]
    assert streamlit == [".streamlit/config.toml"], streamlit
