"""The access-control matrix: every URL of the site, for every kind of administrator, over two
districts full of objects that exist (runs, plans, self-checks and their fixes, jobs, merges,
adoptions, uploads, CSV exports, student and account pages, the JSON API).

URLs come from the URL resolver, includes and all, so a new page is checked as soon as it
exists — and a URL this test does not know (its name, or a part of its path) fails until its
answers are written down here. Each URL is filled:

- with the objects of its own place: an administrator who may see the place gets 200, and the
  page shows nothing outside their scope; anyone else gets a 404 (GET and POST alike, the POST
  carrying a confirmed, dangerous form), and anonymous the sign-in page;
- for a place the administrator may see, with the objects (in the path) of another district,
  of another school (for a school administrator), or of nothing: a 404;
- for a place the administrator may see, with another place's objects in the query string or
  the form (students to act on, a pair to merge, a guardian to fix, an upload, an import
  folder): whatever the answer, it shows nothing outside the scope and changes nothing.

Every request runs in a savepoint rolled back after it, and every one is checked for changed
rows: a fingerprint of every row of every Rollbook table, compared with the one before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.urls import URLResolver, get_resolver, reverse

pytestmark = pytest.mark.django_db

ACTORS = (
    "anonymous",
    "admin_a",  # Lincoln (district one)
    "admin_b",  # Jefferson (district one)
    "district_admin",  # district one
    "admin_two",  # district two
    "school_admin_two",  # Faraway Middle (district two)
    "both",  # district one whole, and Elsewhere High in district two
)
OK, DENIED, SIGN_IN, QUIET = "200", "404", "sign-in", "no leak"
NOWHERE = 10**9  # an id that exists nowhere

# URLs that take no object. PUBLIC answer anyone; SIGNED_IN any signed-in account.
PUBLIC = {"api:health"}
SIGNED_IN = {"web:home", "web:password-change"}
PEOPLE = {"web:student", "web:account"}
# Answering in their own way (signing in and out).
SPECIAL = {"web:sign-in", "web:sign-out"}
# Taking a secret, not an object: an emailed set-password link. A made-up one answers anyone
# with "this link does not work", GET and POST alike (test_admins.py tries real ones).
TOKEN = {"web:password-set"}
POST_ONLY = {"actions"}  # a GET is 405 before anything is looked up
# The parts of a place's URL after its pk: how each is filled from a place's objects, and
# whether it names an object (ids are checked against the place; words are not ids).
PARTS = {
    "job_id": lambda bag, page: [bag.check] if page.startswith("check") else bag.jobs,
    "merge_id": lambda bag, page: [bag.merge],
    "run_id": lambda bag, page: [bag.run, bag.applied_run],
    "source_id": lambda bag, page: [bag.source],
    "what": lambda bag, page: ["issues", "student-create"],
    "code": lambda bag, page: ["CHECK-EXISTING-STUDENTS"],
    "fix": lambda bag, page: ["archive", "contacts"],
    "alert_id": lambda bag, page: [bag.alert],
    "role_id": lambda bag, page: [_school_administrator(bag.district_id)],
    "change": lambda bag, page: ["deactivate", "reactivate", "password"],
    "school_id": lambda bag, page: [_school_by_hand(bag.district_id)],
}
IDS = {"job_id", "merge_id", "run_id", "source_id", "alert_id", "role_id", "school_id"}


def _school_administrator(district_id: int) -> int:
    """A school administrator's role in the district (the Administrators tab's rows)."""
    from rollbook.directory.models import AdministratorRole

    role = AdministratorRole.objects.filter(district=district_id, school__isnull=False)
    return role.values_list("pk", flat=True).order_by("pk").first() or NOWHERE


def _school_by_hand(district_id: int) -> int:
    """A school of the district entered by hand (one the Schools tab may rename)."""
    from rollbook.directory.models import School

    school = School.objects.filter(district=district_id, source__isnull=True)
    return school.values_list("pk", flat=True).order_by("pk").first() or NOWHERE


def query(page: str, bag) -> dict:
    """The query string a page needs besides its path (a GET shows a confirmation only)."""
    return {
        "run-decide": {"decision": "discard"},
        "merge-preview": {"old": bag.pair[0], "new": bag.pair[1]},
        "check-fix": {"account": bag.account},
    }.get(page, {})


def dangerous(bag) -> dict:
    """A confirmed form for any POST, naming the place's objects: it discards, archives,
    merges, fixes, plans or saves if a view lets it through."""
    return {
        "confirm": "yes",
        "decision": "discard",
        "action": "archive",
        "ids": bag.students,
        "old": bag.pair[0],
        "new": bag.pair[1],
        "guardians": "keep",
        "account": bag.account,
        "do": "plan",
        "previous": bag.upload,
        "archive_percent": "1",
        "update_percent": "1",
        "schools": "sis-x",
    }


# The URL resolver ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str  # "web:district-run"
    route: str  # "districts/<int:pk>/sync/runs/<int:run_id>/"
    parts: tuple[str, ...]  # the URL's arguments
    kind: str | None  # a place page's kind ("district" or "school")

    @property
    def page(self) -> str:
        """A place page's name without its kind: "run", "merge-undo"…"""
        return self.name.split(":", 1)[1].split("-", 1)[1]


def routes(resolver=None, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    """Every URL pattern of the site, includes walked."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from routes(pattern, route, inner)
            continue
        assert pattern.name, f"URL {route!r} has no name: name it, and add it to test_access.py"
        yield Route(
            f"{namespace}{pattern.name}",
            route,
            tuple(pattern.pattern.regex.groupindex),
            pattern.default_args.get("kind"),
        )


def known(route: Route) -> Route:
    """The route, if this test knows how to fill it and what each role gets."""
    if route.name in PUBLIC | SIGNED_IN | SPECIAL:
        assert not route.parts, route
        return route
    if route.name in PEOPLE:
        assert route.parts == ("pk",), route
        return route
    if route.name in TOKEN:
        assert route.parts == ("uidb64", "token"), route
        return route
    assert route.kind in ("district", "school") and route.parts[:1] == ("pk",), (
        f"URL {route.route!r} ({route.name}) is not in the access matrix: add it to test_access.py"
    )
    unknown = set(route.parts[1:]) - set(PARTS)
    assert not unknown, f"URL {route.route!r} takes {unknown}: say in PARTS how to fill it"
    return route


# Who may see what ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """What an administrator may see, written down here (not asked of web/scope.py)."""

    full: frozenset[int] = frozenset()  # districts held whole
    schools: frozenset[int] = frozenset()  # every school they see
    districts: frozenset[int] = frozenset()  # every district with a school they see

    def sees(self, anchor: tuple[str, int]) -> bool:
        kind, pk = anchor
        return pk in (self.schools if kind == "school" else self.full)

    def reads(self, anchor: tuple[str, int]) -> bool:
        """Whether a marker (see TwoDistricts.markers) may show on this administrator's page."""
        kind, pk = anchor
        return pk in (self.schools if kind == "school" else self.districts)

    def place(self, kind: str, pk: int) -> bool:
        return pk in (self.full if kind == "district" else self.schools)


def reaches(t) -> dict[str, Reach]:
    s = {key: school.pk for key, school in t.schools.items()}
    one, two = t.world.district.pk, t.district_two.pk
    whole_one = {s["a"], s["b"], s["c"]}
    whole_two = {s["e"], s["f"], s["g"]}

    def reach(full=(), schools=(), districts=()):
        return Reach(frozenset(full), frozenset(schools), frozenset(districts))

    return {
        "anonymous": reach(),
        "admin_a": reach(schools={s["a"]}, districts={one}),
        "admin_b": reach(schools={s["b"]}, districts={one}),
        "district_admin": reach({one}, whole_one, {one}),
        "admin_two": reach({two}, whole_two, {two}),
        "school_admin_two": reach(schools={s["f"]}, districts={two}),
        "both": reach({one}, whole_one | {s["e"]}, {one, two}),
    }


# Cases -----------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str  # the URL's name
    method: str
    url: str
    expect: str  # OK, DENIED, SIGN_IN, QUIET, or a status code
    data: dict = field(default_factory=dict)
    why: str = ""
    shows: str = ""  # for a page answered: text it must show (the place's name)


def place_urls(route: Route, pk: int, bag) -> Iterator[tuple[str, dict]]:
    """The place page's URLs for place ``pk``, its parts and query from ``bag``."""
    from itertools import product

    parts = route.parts[1:]
    for values in product(*(PARTS[p](bag, route.page) for p in parts)):
        url = reverse(route.name, kwargs={"pk": pk, **dict(zip(parts, values, strict=True))})
        yield url, query(route.page, bag)


def nowhere(kind: str):
    from .conftest import Bag

    n = NOWHERE
    ids = dict.fromkeys(
        ("merge", "account", "klass", "source", "run", "applied_run", "check", "alert"), n
    )
    return Bag(kind, n, n, [n], **ids, pair=(n, n), students=[n], upload="x.zip", folder="x")


def strangers(t, reach: Reach, kind: str, pk: int) -> list:
    """Places whose objects a page of place (kind, pk) must never take: another district's
    (its own and one school's), a sibling place's in the same district for an administrator
    who does not hold that district whole, and objects that exist nowhere."""
    bag = t.bags[kind, pk]
    found, schools_of = [nowhere("school")], set()
    for other in t.bags.values():
        if other is bag:
            continue
        if other.district_id == bag.district_id:
            if bag.district_id not in reach.full:
                found.append(other)
        elif other.kind == "district":
            found.append(other)
        elif other.district_id not in schools_of:
            schools_of.add(other.district_id)
            found.append(other)
    return found


def cases(t, role: str, reach: Reach, every: list[Route]) -> Iterator[Case]:
    signed_in = role != "anonymous"
    for route in every:
        name = route.name
        if name in PUBLIC:
            yield Case(name, "get", reverse(name), OK)
        elif name in SIGNED_IN:
            yield Case(name, "get", reverse(name), OK if signed_in else SIGN_IN)
        elif name == "web:sign-in":
            yield Case(name, "get", reverse(name), "302" if signed_in else OK)
        elif name in PEOPLE:
            yield from people_cases(t, role, reach, name)
        elif name in TOKEN:
            made_up = reverse(name, kwargs={"uidb64": "MQ", "token": "cz9ra4-0123456789abcdef"})
            password = {"new_password1": "a-long-passphrase", "new_password2": "a-long-passphrase"}
            yield Case(name, "get", made_up, OK, shows="This link does not work")
            yield Case(name, "post", made_up, OK, password, shows="This link does not work")
        elif name not in SPECIAL:
            yield from place_cases(t, role, reach, route)
    # Last: it signs the client out.
    yield Case("web:sign-out", "post", reverse("web:sign-out"), "302")


def people_cases(t, role, reach, name) -> Iterator[Case]:
    for url_name, pk, anchors in [*t.people, (name, NOWHERE, ())]:
        if url_name != name:
            continue
        url = reverse(name, kwargs={"pk": pk})
        if role == "anonymous":
            yield Case(name, "get", url, SIGN_IN)
        elif any(reach.sees(a) for a in anchors):
            yield Case(name, "get", url, OK)
        else:
            yield Case(name, "get", url, DENIED)
            yield Case(name, "post", url, DENIED, {"confirm": "yes"})


def place_cases(t, role, reach, route: Route) -> Iterator[Case]:
    places = [(kind, pk) for kind, pk in t.bags if kind == route.kind]
    places.append((route.kind, NOWHERE))
    if role == "anonymous":  # the sign-in page, whatever the place
        places = places[:1]
    for kind, pk in places:
        bag = t.bags.get((kind, pk)) or nowhere(kind)
        visible = reach.place(kind, pk)
        name = t.names.get((kind, pk), "")
        for url, params in place_urls(route, pk, bag):
            if role == "anonymous":
                yield Case(route.name, "get", url, SIGN_IN, params)
                yield Case(route.name, "post", url, SIGN_IN, dangerous(bag))
            elif not visible:
                get = "405" if route.page in POST_ONLY else DENIED
                yield Case(route.name, "get", url, get, params, "another place")
                yield Case(route.name, "post", url, DENIED, dangerous(bag), "another place")
            elif route.page in POST_ONLY:  # its own place: the confirmation, nothing done
                yield Case(route.name, "get", url, "405")
                form = {"action": "archive", "ids": bag.students}
                yield Case(route.name, "post", url, OK, form, shows=name)
            else:
                yield Case(route.name, "get", url, OK, params, shows=name)
        if role == "anonymous" or not visible:
            continue
        for other in strangers(t, reach, kind, pk):
            yield from stranger_cases(route, pk, bag, other)


def stranger_cases(route: Route, pk: int, bag, other) -> Iterator[Case]:
    """Place ``pk`` (visible) with the objects of ``other``: in the path, a 404 whatever the
    form says; in the query string or the form, no answer that leaks or changes anything."""
    why = f"objects of {other.kind} {other.pk}"
    name, page = route.name, route.page
    if set(route.parts) & IDS:
        for url, params in place_urls(route, pk, other):
            yield Case(name, "get", url, DENIED, params, why)
            yield Case(name, "post", url, DENIED, dangerous(other), why)
    url = reverse(name, kwargs={"pk": pk}) if route.parts == ("pk",) else None
    school = other.pk if other.kind == "school" else ""
    if page in ("students", "guardians", "staff"):
        yield Case(name, "get", url, QUIET, {"school": school, "klass": other.klass}, why)
    elif page == "actions":
        for action in ("archive", "unarchive", "remove_guardians", "merge"):
            form = {"action": action, "ids": other.students, "confirm": "yes"}
            yield Case(name, "post", url, QUIET, form, why)
    elif page == "merge":
        yield Case(name, "get", url, QUIET, {"students": f"{other.pair[0]},{other.pair[1]}"}, why)
    elif page == "merge-preview":
        pair = {"old": other.pair[0], "new": other.pair[1]}
        yield Case(name, "get", url, QUIET, pair, why)
        yield Case(name, "post", url, QUIET, pair | {"confirm": "yes", "guardians": "keep"}, why)
    elif page == "sync" and other.kind == "district":
        for form in (
            {"do": "plan", "previous": other.upload},
            {"do": "check", "folder": other.folder},
            {"do": "check", "folder": f"{other.district_id}/{other.folder}"},
            {"do": "plan", "folder": f"../{other.district_id}/{other.folder}"},
        ):
            yield Case(name, "post", url, QUIET, form, why)
    elif page == "check-fix":  # the place's own self-check, another place's guardian
        for url, _ in place_urls(route, pk, bag):
            if url.endswith("/contacts/"):
                yield Case(name, "get", url, QUIET, {"account": other.account}, why)
                form = {"account": other.account, "confirm": "yes"}
                yield Case(name, "post", url, QUIET, form, why)


# Running a case --------------------------------------------------------------------------------


def rollbook_models() -> list:
    return [
        m
        for m in apps.get_models()
        if m._meta.app_config.name.startswith("rollbook.") and m._meta.managed
    ]


def fingerprint() -> dict[str, list]:
    """Every row of every Rollbook table (read raw: this runs after each of thousands of
    requests)."""
    quote = connection.ops.quote_name
    rows = {}
    with connection.cursor() as cursor:
        for model in rollbook_models():
            table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
            cursor.execute(f"SELECT * FROM {table} ORDER BY {pk}")
            rows[model._meta.label] = cursor.fetchall()
    return rows


def text_of(response) -> str:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode("utf-8", errors="replace")


def answered(response, expect: str) -> bool:
    if expect == SIGN_IN:
        return response.status_code == 302 and response["Location"].startswith("/sign-in/")
    if expect == QUIET:
        return True
    return str(response.status_code) == expect


def attempt(client, case: Case, before: dict, reach: Reach, markers: dict) -> list[str]:
    """Make the request in a savepoint rolled back after it; what is wrong with its answer."""
    send = client.post if case.method == "post" else client.get
    try:
        with transaction.atomic():
            response = send(case.url, case.data)
            text = text_of(response)
            changed = [label for label, rows in fingerprint().items() if rows != before[label]]
            transaction.set_rollback(True)
    except Exception as exc:  # noqa: BLE001 - a traceback is a failure of this case
        return [f"raised {type(exc).__name__}: {exc}"]
    client.cookies.pop("messages", None)  # a message of one request is not shown by the next
    problems = []
    if not answered(response, case.expect):
        where = response.get("Location", "")
        problems.append(f"answered {response.status_code} {where}, expected {case.expect}")
    html = response.get("Content-Type", "").startswith("text/html")
    if case.shows and html and case.shows not in text:
        problems.append(f"does not show {case.shows!r}: not the place's page")
    if changed:
        problems.append(f"changed rows of {', '.join(changed)}")
    leaked = sorted(m for m, anchor in markers.items() if not reach.reads(anchor) and m in text)
    if leaked:
        problems.append(f"shows {leaked}")
    return problems


# Tests -----------------------------------------------------------------------------------------


def every_route() -> list[Route]:
    return [known(r) for r in routes()]


def test_every_url_of_the_site_is_in_the_matrix():
    names = {r.name for r in every_route()}
    assert {"api:health", "web:student", "web:district-check-fix", "web:school-job"} <= names


def matrix(client, t) -> tuple[list[str], dict[str, set[tuple[str, str]]]]:
    """Every case for every role: the failures, and what each URL answered whom."""
    every = every_route()
    reach = reaches(t)
    failures: list[str] = []
    answers: dict[str, set[tuple[str, str]]] = defaultdict(set)  # URL name → (role, expected)
    for role in ACTORS:
        client.logout()
        if role != "anonymous":
            client.force_login(t.account(role))
        before = fingerprint()
        for case in cases(t, role, reach[role], every):
            answers[case.name].add((role, case.expect))
            for problem in attempt(client, case, before, reach[role], t.markers):
                failures.append(
                    f"{role} {case.method.upper()} {case.url} {case.data or ''} "
                    f"({case.why or 'its own place'}): {problem}"
                )
    return failures, answers


def test_every_url_answers_each_administrator_within_their_scope_only(client, two_districts):
    failures, answers = matrix(client, two_districts)
    shown = "\n".join(failures[:60])
    assert not failures, f"{len(failures)} failures:\n{shown}"
    # Not passing by refusing everything: every page answers someone with its content, and
    # every page that takes an object refuses it to someone.
    for route in every_route():
        got = answers[route.name]
        assert any(e == OK for _, e in got) or route.name in SPECIAL, (route.name, got)
        if route.parts and route.name not in TOKEN:
            assert any(e == DENIED for _, e in got), (route.name, got)
    for role in ACTORS[1:]:
        reached = {name for name, got in answers.items() if (role, OK) in got}
        assert {"web:student", "web:account", "web:school-overview"} <= reached, role
    # Objects carried in the query string or the form were tried too.
    carried = {name for name, got in answers.items() if any(e == QUIET for _, e in got)}
    assert {
        "web:school-actions",
        "web:school-merge-preview",
        "web:district-sync",
        "web:district-check-fix",
        "web:district-students",
    } <= carried, carried


def test_an_administrator_of_both_districts_sees_only_their_school_in_the_second(
    client, two_districts
):
    """District administrator of district one, school administrator of Elsewhere High in
    district two: the home page lists district one and Elsewhere High, nothing else of
    district two; the school's directory lists its students only."""
    t = two_districts
    client.force_login(t.both)
    home = client.get(reverse("web:home")).content.decode()
    assert "Test District" in home and "Elsewhere High" in home
    assert "Faraway Middle" not in home and "School sis-two" not in home
    elsewhere = t.schools["e"].pk
    listing = client.get(reverse("web:school-students", kwargs={"pk": elsewhere}))
    text = listing.content.decode()
    assert listing.status_code == 200 and "Elsewhereton" in text
    assert "Farawayson" not in text and "Sistwosmith" not in text
    faraway = reverse("web:school-overview", kwargs={"pk": t.schools["f"].pk})
    assert client.get(faraway).status_code == 404
    two = reverse("web:district-overview", kwargs={"pk": t.district_two.pk})
    assert client.get(two).status_code == 404


def test_a_school_administrator_cannot_act_on_another_school_through_the_filter(client, world):
    """ "All matching" is re-evaluated inside the scope: a forged school filter selects
    nothing of the other school."""
    from rollbook.directory.models import Student

    client.force_login(world.admin_a)
    url = reverse("web:school-actions", kwargs={"pk": world.school_a.pk})
    ids = [s.pk for s in world.students_b]
    client.post(url, {"action": "archive", "ids": ids, "confirm": "yes"})
    client.post(
        url,
        {"action": "archive", "selection": "all", "school": world.school_b.pk, "confirm": "yes"},
    )
    assert not Student.objects.filter(school=world.school_b, status="archived").exists()
