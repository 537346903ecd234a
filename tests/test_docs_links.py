"""Every relative link in README.md and docs/**/*.md resolves.

A link resolves when its target (relative to the file that holds it) exists in the repository,
and, for a ``#anchor``, when the Markdown file it points to has a heading whose GitHub slug is
that anchor (or an HTML ``id``/``name`` attribute with it). Links inside code spans and fenced
code blocks are not links and are skipped; so are absolute URLs (``https:``, ``mailto:``).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]

# [text](target) and ![alt](target); target may be <...> and may carry a "title"
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)"
)
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*(<[^>]*>|\S+)", re.MULTILINE)
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
HTML_ANCHOR = re.compile(r"""<[^>]+\b(?:id|name)\s*=\s*["']([^"']+)["']""")
CODE_SPAN = re.compile(r"(`+)((?:[^`\n]|\n(?!\s*\n))+?)\1")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files(repo: Path = REPO) -> list[Path]:
    """README.md and every Markdown file under docs/."""
    files = [repo / "README.md"]
    files += sorted((repo / "docs").rglob("*.md"))
    return [f for f in files if f.is_file()]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line outside fenced code blocks."""
    out, fence = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * len(match.group(1))
            continue
        if fence is not None:
            if line.strip().startswith(fence) and set(line.strip()) <= {fence[0]}:
                fence = None
            continue
        out.append((number, line))
    return out


def _rendered_text(heading: str) -> str:
    """The heading's text as GitHub renders it: code spans, links and emphasis unwrapped."""
    text = CODE_SPAN.sub(lambda m: m.group(2).strip(), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    return text.replace("*", "")


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.

    Letters, marks, numbers, underscores, hyphens and spaces are kept (every other character,
    en dashes and apostrophes included, is dropped); each space becomes one hyphen.
    """
    kept = []
    for char in _rendered_text(heading).strip().lower():
        category = unicodedata.category(char)
        if char in " -_" or category[0] in "LMN":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a link into ``path`` may name: heading slugs (numbered as GitHub numbers
    repeats: ``x``, ``x-1``, ...) and HTML ``id``/``name`` attributes."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    lines = prose_lines(path.read_text(encoding="utf-8"))
    previous = ""
    for index, (number, line) in enumerate(lines):
        heading = None
        match = ATX_HEADING.match(line)
        if match:
            heading = match.group(2)
        elif SETEXT_UNDERLINE.match(line) and index > 0 and lines[index - 1][0] == number - 1:
            # a paragraph line directly above "===" or "---" (not a table, list or quote)
            if previous.strip() and not previous.lstrip().startswith(("|", "-", "*", ">")):
                heading = previous
        if heading is not None:
            slug = github_slug(heading)
            count = seen.get(slug, 0)
            found.add(slug if count == 0 else f"{slug}-{count}")
            seen[slug] = count + 1
        found.update(HTML_ANCHOR.findall(line))
        previous = line
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link in ``path`` outside code.

    Links are found in the whole text, so a link whose text wraps onto the next line counts;
    code spans (which may wrap too) are blanked first, keeping every line break in place.
    """
    kept = dict(prose_lines(path.read_text(encoding="utf-8")))
    last = max(kept, default=0)
    prose = "\n".join(kept.get(number, "") for number in range(1, last + 1))
    bare = CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), prose)
    found = [(m.start(), m.group(1)) for m in INLINE_LINK.finditer(bare)]
    found += [(m.start(), m.group(1)) for m in REFERENCE_DEF.finditer(bare)]
    return [(bare.count("\n", 0, start) + 1, target.strip("<>")) for start, target in sorted(found)]


def broken_links(path: Path, repo: Path = REPO) -> list[str]:
    """One message per relative link in ``path`` whose file or anchor does not exist."""
    problems = []
    for number, target in links(path):
        if SCHEME.match(target) or target.startswith("//"):
            continue
        where = f"{path.relative_to(repo)}:{number}: {target}"
        file_part, _, anchor = target.partition("#")
        file_part = unquote(file_part)
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{where}: no such file")
            continue
        try:
            resolved.relative_to(repo.resolve())
        except ValueError:
            problems.append(f"{where}: outside the repository")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{where}: no heading with anchor #{anchor}")
    return problems


def test_docs_exist():
    names = {f.relative_to(REPO).as_posix() for f in markdown_files()}
    assert "README.md" in names
    assert any(name.startswith("docs/") for name in names)


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


def test_github_slugs():
    assert github_slug("The paper's run on real GoPro") == "the-papers-run-on-real-gopro"
    assert github_slug("`tv_blind` measured") == "tv_blind-measured"
    assert github_slug("Baselines: Richardson–Lucy, `tv_blind` and more") == (
        "baselines-richardsonlucy-tv_blind-and-more"
    )
    assert github_slug("Speed: training and SelfDeblur") == "speed-training-and-selfdeblur"
    assert github_slug("A [link](x.md) and **bold**") == "a-link-and-bold"


def test_a_broken_link_is_reported(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## A section\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text(
        "# Title\n\n## Same\n\n## Same\n\nUnder a line\n---\n\n"
        "[ok](docs/other.md) [ok](docs/other.md#a-section) [ok](#same-1) [ok](#under-a-line)\n"
        "[web](https://example.org/missing) `[code](missing.md)`\n\n"
        "```\n[fenced](missing.md)\n```\n\n"
        "[file](docs/missing.md) [anchor](docs/other.md#no-such-section) [self](#same-2) `a code\n"
        "span [x](code.md)` [a link that\nwraps](docs/wrapped.md) [space](docs/other%20page.md)\n"
        "[ref]: docs/gone.md\n",
        encoding="utf-8",
    )
    problems = broken_links(page, repo=tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "docs/missing.md: no such file",
        "docs/other.md#no-such-section: no heading with anchor #no-such-section",
        "#same-2: no heading with anchor #same-2",
        "docs/wrapped.md: no such file",
        "docs/other%20page.md: no such file",
        "docs/gone.md: no such file",
    ]
    assert all(p.startswith("README.md:") for p in problems)
