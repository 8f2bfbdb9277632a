"""The docs cannot drift from the code: their specs validate, their links lead somewhere, and
the README stays a front door of at most 12 KB.

Every fenced yaml block of README.md and docs/*.md with a top-level `graphspec:` key is a spec
and must validate with no diagnostic at all. Blocks without it are fragments and are skipped.
An HTML comment on the line just before the fence changes what is checked:

    <!-- invalid: GS206 -->                   deliberately wrong: validation gives exactly these
                                              codes, in order. A text block that follows it
                                              (blank lines between at most) is the rendered
                                              output, for a file named after the spec's `name`.
    <!-- plugins: examples/plugins/x.py -->   load these plugins (paths from the repository
                                              root) before validating
    <!-- file: lib/common.yaml -->            this block is a file the page's other specs
                                              import: it is written at that path beside them,
                                              and checked through them (a library file is
                                              not a model on its own)
"""

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import graphspec

from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT = 12 * 1024
# Linked already, written by other work of issue #9; checked like any page once it exists.

_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARKER = re.compile(r"^<!--\s*(invalid|plugins|file):\s*(.+?)\s*-->$")
_SPEC = re.compile(r"^graphspec:", re.MULTILINE)
_NAME = re.compile(r"^name:\s*([\w.-]+)", re.MULTILINE)


@dataclass
class Block:
    page: Path
    start: int  # 1-based line of the opening fence
    stop: int  # 1-based line of the closing fence
    lang: str
    text: str
    comment: str | None  # the HTML comment on the line before the fence

    def __str__(self):
        return f"{self.page.relative_to(ROOT)}:{self.start}"

    @property
    def is_spec(self):
        return self.lang in ("yaml", "yml") and bool(_SPEC.search(self.text))

    @property
    def marker(self) -> tuple[str | None, str]:
        if self.comment is None:
            return None, ""
        match = _MARKER.match(self.comment)
        assert match, f"{self}: unknown marker {self.comment!r}"
        return match.group(1), match.group(2)


def fenced_blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, lang = match.groups()
        stop = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if stop is None:
            raise AssertionError(f"{page}:{i + 1}: a fence that is never closed")
        body = [line.removeprefix(indent) for line in lines[i + 1 : stop]]
        before = lines[i - 1].strip() if i else ""
        comment = before if before.startswith("<!--") else None
        text = "\n".join(body) + "\n"
        blocks.append(Block(page, i + 1, stop + 1, lang, text, comment))
        i = stop + 1
    return blocks


def _rendered_after(block: Block) -> str | None:
    """The text block right after `block`, if only blank lines separate them."""
    blocks = fenced_blocks(block.page)
    following = blocks[blocks.index(block) + 1 :]
    if not following or following[0].lang != "text":
        return None
    lines = block.page.read_text(encoding="utf-8").splitlines()
    if any(line.strip() for line in lines[block.stop : following[0].start - 1]):
        return None
    return following[0].text.strip()


SPECS = [block for page in PAGES for block in fenced_blocks(page) if block.is_spec]


@pytest.mark.parametrize("block", SPECS, ids=str)
def test_spec_example(block, tmp_path, monkeypatch):
    kind, value = block.marker
    if kind == "file":
        importers = [
            b for b in SPECS if b.page == block.page and b is not block and value in b.text
        ]
        assert importers, f"{block}: no spec on the page imports {value}"
        return
    for other in fenced_blocks(block.page):
        if other.marker[0] == "file":
            target = tmp_path / other.marker[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(other.text, encoding="utf-8")
    if kind == "plugins":
        for plugin in value.split():
            graphspec.load_plugin(str(ROOT / plugin))
    monkeypatch.chdir(tmp_path)  # diagnostics then name the file as the docs show it
    name = _NAME.search(block.text)
    path = f"{name.group(1) if name else 'example'}.yaml"
    Path(path).write_text(block.text, encoding="utf-8")

    diagnostics = graphspec.validate(path)
    rendered = "\n".join(d.format() for d in diagnostics)
    if kind == "invalid":
        assert [d.code for d in diagnostics] == value.split(), rendered
        shown = _rendered_after(block)
        if shown is not None:
            assert rendered == shown
    else:
        assert diagnostics == [], rendered


def test_every_marker_is_exercised():
    """Each kind of marker drives a branch above; this fails if the docs stop using one, so
    that no branch of the test becomes dead without anyone noticing."""
    used = {block.marker[0] for block in SPECS}
    assert used >= {None, "invalid", "plugins", "file"}, used
    assert any(block.page.name == "README.md" for block in SPECS)
    assert any(block.marker[0] == "invalid" and _rendered_after(block) for block in SPECS)


def test_readme_is_short():
    size = (ROOT / "README.md").stat().st_size
    assert size <= README_LIMIT, f"README.md is {size} bytes; the reference belongs in docs/"


_INLINE_CODE = re.compile(r"`+[^`\n]*`+")
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?[^)]*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def _outside_fences(page: Path) -> list[str]:
    lines = page.read_text(encoding="utf-8").splitlines()
    for block in fenced_blocks(page):
        lines[block.start - 1 : block.stop] = [""] * (block.stop - block.start + 1)
    return lines


def _prose(page: Path) -> str:
    """The page without its code: links in code are not links."""
    return _INLINE_CODE.sub("", "\n".join(_outside_fences(page)))


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings."""
    seen: dict[str, int] = {}
    anchors = set()
    for line in _outside_fences(page):
        match = _HEADING.match(line)
        if not match:
            continue
        heading = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1)).lower()
        slug = re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(f"{slug}-{count}" if count else slug)
    return anchors


def _links(page: Path) -> list[str]:
    prose = _prose(page)
    return _LINK.findall(prose) + _REFERENCE.findall(prose)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target):
            continue  # https:, mailto: and the like are not files of this repository
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading with that anchor)")
    assert not broken, f"{page.relative_to(ROOT)}: " + ", ".join(broken)


def test_links_are_found():
    """The link check above sees the links the pages really have."""
    assert "docs/format.md" in _links(ROOT / "README.md")
    assert "#model-kind" in _links(ROOT / "docs" / "format.md")
    assert "model-kind" in _anchors(ROOT / "docs" / "format.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_codes_named_exist(page):
    """A code the docs name is one graphspec has: renamed or removed codes show up here."""
    named = set(re.findall(r"\bGS\d{3}\b", page.read_text(encoding="utf-8")))
    assert named <= set(graphspec.CODES), sorted(named - set(graphspec.CODES))
