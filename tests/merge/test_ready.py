"""The ready bucket's check before a merge at once: the same counts and refusals as one
preview per pair, read a chunk of pairs at a time."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollbook.directory.models import Student
from rollbook.merge import ready, services

pytestmark = pytest.mark.django_db

BD = dt.date(2017, 3, 1)


@pytest.fixture
def families(make, district, school_b):
    """Six pairs: history, guardians only on the old student, a guardian on both, a class
    entered by hand; one pair in two schools, one whose synced twin is archived."""
    pairs = []
    for i in range(4):
        old, new = make.old(f"Kid{i}", "Lopez", birth=BD), make.synced(f"Kid{i}", "Lopez", birth=BD)
        make.history(old, i)
        make.guardian(old, f"G{i}", "Lopez", f"g{i}@example.com")
        make.guardian(old, "Ana", "Lopez", "ana@example.com")
        if i % 2:
            make.guardian(new, "Ana", "Lopez", "ana@example.com")
            make.manual_class(old, title=f"Club {i}")
        pairs.append((old.pk, new.pk))
    moved = make.old("Priya", "Raman", birth=BD), make.synced("Priya", "Raman", school=school_b)
    gone = make.old("Zoe", "Park"), make.synced("Zoe", "Park", status="archived")
    pairs += [(moved[0].pk, moved[1].pk), (gone[0].pk, gone[1].pk)]
    return pairs, Student.objects.filter(district=district)


def test_each_pair_counts_as_its_own_preview(families):
    pairs, students = families
    for pair, bulk in ready.preview_pairs(students, pairs):
        try:
            one = services.preview(students, *pair)
        except services.MergeRefused as exc:
            assert bulk == str(exc)
            continue
        assert bulk.counts == one.counts()
        assert bulk.links_only_on_old == one.links_only_on_old
        assert (bulk.old, bulk.survivor) == (one.old, one.survivor)
    refused = [p for p, bulk in ready.preview_pairs(students, pairs) if isinstance(bulk, str)]
    assert refused == [pairs[-1]]  # the archived twin


def test_the_check_holds_pairs_that_no_longer_pass_and_totals_the_rest(families):
    pairs, students = families
    check = ready.check_ready(students, pairs)
    assert check.pairs == pairs[:4]
    assert check.totals == {
        "history_records": 0 + 1 + 2 + 3,
        "guardian_links_only_on_old": 4 + 2,  # G0–G3, and Ana where the SIS does not list her
        "guardian_links_already_on_survivor": 2,
        "class_memberships": 2,
    }
    assert check.held == [
        "Priya Raman → Priya Raman: needs a look — different schools (Lincoln Elementary → "
        "Roosevelt High)",
        f"Zoe Park → Zoe Park: student {pairs[-1][1]} is archived; merge into an active one",
    ]
    assert [e["p"].old.given_name for e in check.exceptional] == []  # all agree
    assert len(check.unlisted) == 4


def test_the_queries_do_not_grow_with_the_pairs(families):
    pairs, students = families
    counts = []
    for some in (pairs[:1], pairs[:4]):
        with CaptureQueriesContext(connection) as queries:
            list(ready.preview_pairs(students, some))
        counts.append(len(queries))
    assert counts[0] == counts[1]
