"""The front door and the docs site (issue 27): README.md stays short, every relative link in README.md and docs/
resolves, and mkdocs.yml's nav lists exactly the pages in docs/. Cheap: no mkdocs needed (`make docs` builds
the site with `mkdocs build --strict`)."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README_MAX_LINES = 200

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def _markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]


def _links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every inline link, image and reference definition outside code."""
    found, in_code = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        text = INLINE_CODE.sub("", line)
        found += [(number, m.group(1)) for m in LINK.finditer(text)]
        ref = REF_DEF.match(text)
        if ref:
            found.append((number, ref.group(1)))
    return found


def _nav_pages(nav) -> list[str]:
    """Every page file named in a mkdocs nav (nested sections included, external links skipped)."""
    pages: list[str] = []
    items = nav if isinstance(nav, list) else [nav]
    for item in items:
        if isinstance(item, str):
            pages.append(item)
        elif isinstance(item, dict):
            for value in item.values():
                pages += _nav_pages(value)
    return [p for p in pages if not EXTERNAL.match(p)]


def _mkdocs_config() -> dict:
    with open(REPO / "mkdocs.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): " \
        "move details into docs/"


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_point_at_existing_files(path):
    broken = []
    for number, target in _links(path):
        if EXTERNAL.match(target) or target.startswith("#"):
            continue  # web links, and anchors within the page (not checked)
        file_part = unquote(target.split("#", 1)[0].split("?", 1)[0])
        resolved = (REPO / file_part.lstrip("/")) if file_part.startswith("/") else (path.parent / file_part)
        if not resolved.exists():
            broken.append(f"{path.relative_to(REPO)}:{number}: {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_mkdocs_nav_lists_every_page_and_only_existing_ones():
    config = _mkdocs_config()
    docs_dir = REPO / config.get("docs_dir", "docs")
    assert docs_dir == DOCS
    nav = _nav_pages(config.get("nav", []))
    assert nav, "mkdocs.yml has no nav"
    missing = [p for p in nav if not (docs_dir / p).is_file()]
    assert not missing, f"nav entries without a page: {missing}"
    pages = sorted(p.relative_to(docs_dir).as_posix() for p in docs_dir.rglob("*.md"))
    unlisted = [p for p in pages if p not in nav]
    assert not unlisted, f"pages in docs/ missing from mkdocs.yml's nav: {unlisted}"
    assert len(nav) == len(set(nav)), "a page is listed twice in the nav"
