"""Any sequence of merges followed by their undos, in reverse, returns the starting state;
after each merge the survivor has at most one active link per guardian account."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollbook.directory.audit import Actor
from rollbook.directory.models import Account, GuardianLink, Student
from rollbook.merge import services

from .conftest import rows

pytestmark = pytest.mark.django_db

ACTOR = Actor(label="property")


@pytest.fixture
def world(make, district, school_b):
    """Four old students with history, guardians (some shared) and classes; three synced."""
    olds = [
        make.old(f"Kid{i}", "Lopez", status="archived" if i % 2 else "active") for i in range(4)
    ]
    news = [make.synced(f"Kid{i}", "Lopez") for i in range(3)]
    for i, old in enumerate(olds):
        make.history(old, i + 1)
        make.guardian(old, "Ana", "Lopez", "ana@example.com")  # one account, several links
        make.guardian(old, f"G{i}", "Lopez", f"g{i}@example.com")
        if i % 2:
            make.manual_class(old, title=f"Club {i}")
    make.guardian(news[0], "Ana", "Lopez", "ana@example.com")
    make.guardian(news[1], "G1", "Lopez", "g1@example.com")  # the SIS lists G1 for Kid1's twin
    return [o.pk for o in olds], [n.pk for n in news], Student.objects.filter(district=district)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 2),
            st.one_of(
                st.sampled_from([None, True, False]),
                st.sets(st.integers(0, 5), max_size=3),  # positions of accounts to keep
            ),
        ),
        max_size=6,
    )
)
def test_merges_then_undos_in_reverse_return_the_start(world, steps):
    olds, news, students = world
    start = rows()
    done = []
    accounts = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    for old, new, keep in steps:
        if isinstance(keep, set):
            keep = {accounts[i] for i in keep if i < len(accounts)}
        # A guard may refuse (already merged): then nothing changed.
        with contextlib.suppress(services.MergeRefused):
            done.append(services.merge(students, olds[old], news[new], ACTOR, keep_guardians=keep))
        active = list(
            GuardianLink.objects.filter(student_id=news[new], status="active").values_list(
                "account_id", flat=True
            )
        )
        assert len(active) == len(set(active))  # duplicates folded
    for record in reversed(done):
        services.undo(students, record.pk, ACTOR)
    assert rows() == start
