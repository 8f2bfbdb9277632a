"""The catalogue of codes (graphspec/codes.py), its page (docs/diagnostics.md) and the invalid
fixtures (tests/invalid/) agree: every code has a section, in catalogue order, and a fixture;
the page is what scripts/update_diagnostics.py writes from them."""

import re

from test_invalid import FIXTURES, fixtures

import graphspec
from graphspec.codes import CATALOGUE


def test_every_code_has_a_fixture():
    covered = {fixtures.expectation(p).code for p in FIXTURES}
    missing = set(graphspec.CODES) - covered
    assert not missing, f"no invalid fixture for {sorted(missing)}"


def test_page_headings_are_the_catalogue_in_order():
    headings = re.findall(
        r"^## (GS\d{3}): (.+)$", fixtures.PAGE.read_text(encoding="utf-8"), re.MULTILINE
    )
    assert headings == [(code.id, code.title) for code in CATALOGUE.values()]


def test_page_is_current():
    assert fixtures.PAGE.read_text(encoding="utf-8") == fixtures.page(), (
        f"docs/diagnostics.md is stale: run {fixtures.COMMAND} and review the diff"
    )
