"""The access-control matrix: every URL of the web app, as anonymous, school administrator A,
school administrator B and district administrator.

URLs come from the URLconf, so a new page is checked as soon as it exists — and a URL whose
prefix this test does not know fails until its expected answers are written down here.
"""

import pytest
from django.urls import URLPattern, reverse

from rollbook.web import urls as web_urls

pytestmark = pytest.mark.django_db

OK, NOT_FOUND, SIGN_IN = 200, 404, "sign-in"
ROLES = ("anonymous", "admin_a", "admin_b", "district_admin")

# By URL prefix: the object put in the URL, and the answer each role gets.
MATRIX = {
    "": (None, {"admin_a": OK, "admin_b": OK, "district_admin": OK}),
    "password/": (None, {"admin_a": OK, "admin_b": OK, "district_admin": OK}),
    "districts/": ("district", {"admin_a": NOT_FOUND, "admin_b": NOT_FOUND, "district_admin": OK}),
    "schools/": ("school_a", {"admin_a": OK, "admin_b": NOT_FOUND, "district_admin": OK}),
    "students/": ("student_a", {"admin_a": OK, "admin_b": NOT_FOUND, "district_admin": OK}),
    "accounts/": ("account_a", {"admin_a": OK, "admin_b": NOT_FOUND, "district_admin": OK}),
}
# Pages open to everyone, or answering in their own way.
SPECIAL = {
    "sign-in": {"anonymous": 200, "admin_a": 302, "admin_b": 302, "district_admin": 302},
    "sign-out": {"anonymous": 302, "admin_a": 302, "admin_b": 302, "district_admin": 302},
}
POST_ONLY = {"sign-out", "district-actions", "school-actions"}
# Sub-objects of a page (a run, a job, a merge…): what the URL names. Those in NONEXISTENT do
# not exist in the test's world, so every signed-in role gets a 404 there.
NONEXISTENT = {"job_id", "merge_id", "code", "fix"}
QUERY = {"district-run-decide": {"decision": "discard"}}  # a GET shows the confirmation only


def web_patterns() -> list[URLPattern]:
    found = [p for p in web_urls.urlpatterns if isinstance(p, URLPattern)]
    assert len(found) == len(web_urls.urlpatterns), "nested includes: walk them too"
    return found


def objects(world):
    return {
        "district": world.district.pk,
        "school_a": world.school_a.pk,
        "student_a": world.students_a[0].pk,  # Ana
        "account_a": world.guardians["hal"].pk,  # a guardian at Lincoln only
    }


def prefix_of(pattern: URLPattern) -> str:
    route = str(pattern.pattern)
    head = route.split("<", 1)[0]
    if head in MATRIX:
        return head
    raise AssertionError(f"URL {route!r} is not in the access matrix: add it to test_access.py")


def deeper(world) -> dict[str, tuple[dict, str]]:
    """Pages below a place need more than its id: a finished self-check, a plan job, a run,
    a merge, a pair to preview. By URL name without its district-/school- prefix: the extra
    URL arguments and the query string."""
    import json

    from rollbook.directory.audit import Actor
    from rollbook.directory.models import Student
    from rollbook.merge.services import merge
    from rollbook.web.models import Job
    from rollbook.web.views_check import report_path

    ana = world.students_a[0]
    twin = Student.objects.create(
        district=world.district,
        school=world.school_a,
        given_name="Ana",
        family_name="Able",
        origin="synced",
        source=world.held_run.source,
        sourced_id="stu-ana",
    )
    eve = world.students_a[3]
    record = merge(Student.objects.all(), eve.pk, twin.pk, Actor(label="test"))
    plan = Job.objects.create(  # started by school administrator A: also on A's school page
        district=world.district, kind="plan", status="done", created_by=world.admin_a
    )
    check = Job.objects.create(
        district=world.district, kind="check", status="done", created_by=world.district_admin
    )
    from rollbook.readiness.report import Report

    path = report_path(check)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(Report(world.district.pk, "bundle", True).as_dict()))
    run = world.held_run.pk
    return {
        "job": ({"job_id": plan.pk}, ""),
        "run": ({"run_id": run}, ""),
        "source": ({"source_id": world.held_run.source_id}, ""),
        "run-decide": ({"run_id": run}, "?decision=discard"),
        "run-csv": ({"run_id": run, "what": "issues"}, ""),
        "check-report": ({"job_id": check.pk}, ""),
        "check-csv": ({"job_id": check.pk, "code": "CHECK-EXISTING-STUDENTS"}, ""),
        "check-fix": ({"job_id": check.pk, "fix": "archive"}, ""),
        "merge-undo": ({"merge_id": record.pk}, ""),
        "merge-preview": ({}, f"?old={ana.pk}&new={twin.pk}"),
    }


def cases(world, extra=None):
    ids = objects(world)
    extra = extra if extra is not None else deeper(world)
    # Signing out last, so that it does not sign the next requests out.
    for pattern in sorted(web_patterns(), key=lambda p: p.name == "sign-out"):
        name = pattern.name
        if name in SPECIAL:
            yield name, reverse(f"web:{name}"), SPECIAL[name]
            continue
        prefix = prefix_of(pattern)
        obj, answers = MATRIX[prefix]
        kwargs = {"pk": ids[obj]} if obj else {}
        more, query = extra.get(name.split("-", 1)[-1], ({}, ""))
        url = reverse(f"web:{name}", kwargs=kwargs | more) + query
        yield name, url, {"anonymous": SIGN_IN, **answers}


def request(client, name, url, world):
    if name in POST_ONLY:
        return client.post(url, {"action": "archive", "ids": [world.students_a[0].pk]})
    return client.get(url, QUERY.get(name, {}))


def test_every_url_answers_each_role_as_expected(client, world):
    seen = set()
    failures = []
    extra = deeper(world)
    for role in ROLES:
        client.logout()
        if role != "anonymous":
            client.force_login(getattr(world, role))
        for name, url, answers in cases(world, extra):
            seen.add(name)
            response = request(client, name, url, world)
            expected = answers[role]
            if expected == SIGN_IN:
                ok = response.status_code == 302 and response["Location"].startswith("/sign-in/")
            else:
                ok = response.status_code == expected
            if not ok:
                failures.append(f"{role} {url}: {response.status_code}, expected {expected}")
    assert not failures, "\n".join(failures)
    assert {"district-students", "school-actions", "student", "account"} <= seen


def test_ids_that_do_not_exist_or_lie_in_another_district_are_404_too(client, world):
    client.force_login(world.district_admin)
    extra = deeper(world)
    for name, _, answers in cases(world, extra):
        if answers.get("district_admin") != OK or name in SPECIAL or name in ("home",):
            continue
        pattern = next(p for p in web_patterns() if p.name == name)
        if "<int:pk>" not in str(pattern.pattern):
            continue
        more, query = extra.get(name.split("-", 1)[-1], ({}, ""))
        for pk in (10**9, world.other_district.pk) if name.startswith("district") else (10**9,):
            url = reverse(f"web:{name}", kwargs={"pk": pk} | more) + query
            response = request(client, name, url, world)
            assert response.status_code == 404, (name, pk)
        for key in more:  # the deeper object does not exist
            missing = more | {key: 10**9} if isinstance(more[key], int) else None
            if missing:
                url = reverse(f"web:{name}", kwargs={"pk": world.district.pk} | missing)
                if name.startswith("district"):
                    assert request(client, name, url, world).status_code == 404, (name, key)


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
