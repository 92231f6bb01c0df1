"""Conventions of the pages that a build alone would not catch."""

import re

from tests.helpers import ROOT

PAGES = sorted((ROOT / "docs").glob("part[0-9][0-9].md"))


def test_every_part_page_exists_for_each_part_with_code():
    parts = sorted(p.name for p in (ROOT / "parts").glob("part[0-9][0-9]"))
    assert [p.stem for p in PAGES] == parts


def test_every_solution_is_hidden_from_the_student_edition():
    """`make docs-student` (-t student) must leave every exercise solution out."""
    for page in PAGES:
        lines = page.read_text().splitlines()
        for n, line in enumerate(lines):
            if re.match(r"^`{3,}\{dropdown\} A solution", line):
                assert re.match(r"^`{4,}\{only\} not student", lines[n - 1]), (
                    f"{page.name}:{n + 1}: a solution outside an {{only}} not student block")


def test_every_part_page_opens_with_where_you_start_and_closes_with_next():
    for page in PAGES:
        text = page.read_text()
        assert "**Where you start:**" in text[:1500], page.name
        assert "## Next" in text, page.name
