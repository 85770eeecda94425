"""Directory lists: places (a district or a school), filters, search and keyset pagination.

Lists never use OFFSET: a page is "the next N rows after this one" in a total order ending in
the id, which an index walks directly — page 10,000 of a million students costs what page 1
does. The student indexes are (district|school, status, family_name, given_name, id) and
(district|school, status, grade, family_name, given_name, id).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404, QueryDict
from django.urls import reverse
from django.utils.functional import cached_property

from rollbook.directory.models import (
    Account,
    ClassMembership,
    District,
    GuardianLink,
    Origin,
    School,
    SchoolClass,
    StaffRole,
    Status,
    Student,
)
from rollbook.errors import UserError

from .scope import Scope
from .search import account_matches, ids_q, student_search

PAGE_SIZE = 50
SORTS = {
    "name": ("family_name", "given_name", "id"),
    "grade": ("grade", "family_name", "given_name", "id"),
}
ACCOUNT_ORDER = ("family_name", "given_name", "id")
# OneRoster's grade vocabulary (CEDS), in school order.
GRADES = ["IT", "PR", "PK", "TK", "KG", *(f"{n:02d}" for n in range(1, 14)), "PS", "UG", "Other"]


@dataclass
class Place:
    """A district (for its district administrators) or a school, seen through a scope."""

    kind: str  # "district" or "school"
    obj: District | School
    scope: Scope

    @classmethod
    def get(cls, scope: Scope, kind: str, pk: int) -> Place:
        if kind == "district":
            return cls(kind, scope.get_district(pk), scope)
        if kind == "school":
            return cls(kind, scope.get_school(pk), scope)
        raise Http404

    @property
    def district(self) -> District:
        return self.obj if self.kind == "district" else self.obj.district

    @property
    def name(self) -> str:
        return self.obj.name

    def schools(self) -> QuerySet[School]:
        if self.kind == "district":
            return self.scope.schools().filter(district=self.obj)
        return self.scope.schools().filter(pk=self.obj.pk)

    def students(self) -> QuerySet[Student]:
        key = "district" if self.kind == "district" else "school"
        return self.scope.students().filter(**{key: self.obj})

    def classes(self) -> QuerySet[SchoolClass]:
        return self.scope.classes().filter(school__in=self.schools())

    def url_name(self, page: str) -> str:
        return f"web:{self.kind}-{page}"

    @cached_property
    def urls(self) -> dict[str, str]:
        """The place's pages by name, for templates (``place.urls.students``)."""
        names = ("overview", "students", "guardians", "staff", "actions", "sync", "self-check")
        urls = {n: reverse(self.url_name(n), args=[self.obj.pk]) for n in (*names, "merge")}
        urls["self_check"] = urls["self-check"]
        return urls

    def tabs(self) -> list[tuple[str, str, str]]:
        """(key, label, url) of the place's tabs."""
        return [
            ("overview", "Overview", self.urls["overview"]),
            ("directory", "Directory", self.urls["students"]),
            ("sync", "Sync", self.urls["sync"]),
            ("self-check", "Self-check", self.urls["self-check"]),
            ("merge", "Merge", self.urls["merge"]),
        ]


# Filters --------------------------------------------------------------------------------------
#
# A filter that does not validate — another district's school, a class of another school, a
# grade not in the list, an unknown status, an over-long search, a value given twice — is an
# error, never dropped: dropping it would widen the list, and "Select all matching" with an
# action would then reach students nobody chose (issue 13). ``apply`` raises FilterError;
# the pages show the list empty with ``problem()`` and refuse every action.

MAX_SEARCH = 200  # characters of a search
GRADE_WORDS = {
    "IT": "infant/toddler",
    "PR": "preschool",
    "PK": "pre-kindergarten",
    "TK": "transitional kindergarten",
    "KG": "kindergarten",
    "PS": "postsecondary",
    "UG": "ungraded",
}


class FilterError(UserError):
    """A filter that cannot be applied; the message names it and says how to clear it."""


def grade_words(grade: str) -> str:
    """``"03"`` → "grade 3", ``"KG"`` → "kindergarten"."""
    if grade.isdigit():
        return f"grade {int(grade)}"
    return GRADE_WORDS.get(grade, f"grade {grade}")


def _shown(value: Any) -> str:
    """A value as typed, short enough for a message (the template escapes it)."""
    text = " ".join(str(value).split())
    return text if len(text) <= 40 else text[:40] + "…"


class ListFilter(forms.Form):
    """What the students', guardians' and staff lists share: one value per field, and a
    filter that does not validate is a problem in words, never dropped."""

    FIELDS: tuple[str, ...] = ()

    def __init__(self, data: QueryDict, place: Place):
        getlist = getattr(data, "getlist", lambda k: [data[k]] if k in data else [])
        self.given_twice = [k for k in self.FIELDS if len(getlist(k)) > 1]
        super().__init__({k: data.get(k, "") for k in self.FIELDS})
        self.place = place
        found = data.get("find_school")  # the school finder's words (None: not asked)
        self.find_school = None if found is None else str(found)

    def _school_menu(self) -> list[tuple[int, str]]:
        """The school menu's one school: the chosen one, when it is one of the place's (any
        other value is then off the menu: a filter that cannot be applied). A district's
        other schools — 1,519 at L — are found with the school finder (school_finder.py)."""
        raw = self._raw("school")
        if not raw.isdigit() or len(raw) > 18:
            return []
        return list(self.place.schools().filter(pk=int(raw)).values_list("pk", "name"))

    @cached_property
    def school_finder(self):
        """The district's school finder for this filter (none on a school's lists)."""
        from .school_finder import SchoolFinder

        return SchoolFinder(self) if "school" in self.fields else None

    def _raw(self, name: str) -> str:
        return str(self.data.get(name) or "")

    def clean(self):
        cleaned = super().clean()
        for name in self.given_twice:
            label = self.fields[name].label if name in self.fields else name
            self.add_error(None, f"{label}: given more than once")
        if self.place.kind == "school":  # a school's list has no school menu; only itself
            school = self._raw("school").strip()
            if school and school != str(self.place.obj.pk):
                self.add_error(None, f"School: there is no school “{_shown(school)}” here")
        return cleaned

    def _reason(self, name: str) -> str:
        """Why the value of field ``name`` cannot be applied."""
        value = self._raw(name)
        if name == "q":
            if len(value.strip()) > MAX_SEARCH:
                return (
                    f"the search is {len(value.strip())} characters long; at most "
                    f"{MAX_SEARCH} are searched"
                )
            return "the search holds a character that cannot be searched for"
        if name == "school":
            return f"there is no school “{_shown(value)}” in {self.place.name}"
        if name == "grade":
            return f"“{_shown(value)}” is not a grade (the grades are {', '.join(GRADES)})"
        labels = " / ".join(str(label) for key, label in self.fields[name].choices if key)
        return f"“{_shown(value)}” is not one of its choices ({labels})"

    def problem(self) -> str | None:
        """The filter's problems in words, or None when it can be applied."""
        if self.is_valid():
            return None
        reasons = []
        for name, errors in self.errors.items():
            if name == NON_FIELD_ERRORS:
                reasons += [str(e) for e in errors]
            else:
                reasons.append(f"{self.fields[name].label}: {self._reason(name)}")
        return "; ".join(reasons)

    def check(self) -> dict:
        """The cleaned filter (FilterError when it cannot be applied)."""
        problem = self.problem()
        if problem:
            raise FilterError(f"this filter cannot be applied — {problem}")
        return self.cleaned_data

    def querystring(self) -> str:
        """The filter as a query string, without empty values (for links and forms)."""
        self.is_valid()
        data = QueryDict(mutable=True)
        for name in self.FIELDS:
            value = self.cleaned_data.get(name)
            if value not in (None, ""):
                data[name] = value
        return data.urlencode()


class StudentFilter(ListFilter):
    q = forms.CharField(label="Search", required=False, max_length=MAX_SEARCH)
    school = forms.TypedChoiceField(label="School", required=False, coerce=int, empty_value=None)
    grade = forms.ChoiceField(label="Grade", required=False)
    klass = forms.IntegerField(
        label="Class", required=False, min_value=1, max_value=2**63 - 1, widget=forms.Select
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("active", "Active"), ("archived", "Archived"), ("all", "Any")],
    )
    origin = forms.ChoiceField(
        label="Origin", required=False, choices=[("", "Any"), *Origin.choices]
    )
    guardians = forms.ChoiceField(
        label="Guardians",
        required=False,
        choices=[("", "Any"), ("with", "Has guardians"), ("without", "No guardians")],
    )
    sort = forms.ChoiceField(
        label="Sort by", required=False, choices=[("name", "Name"), ("grade", "Grade")]
    )

    FIELDS = ("q", "school", "grade", "klass", "status", "origin", "guardians", "sort")

    def __init__(self, data: QueryDict, place: Place):
        super().__init__(data, place)
        schools = self._school_menu()
        self.school_names = dict(schools)
        self.fields["school"].choices = [("", "All schools"), *schools]
        self.fields["grade"].choices = [("", "All grades"), *((g, g) for g in GRADES)]
        classes = place.classes().filter(status=Status.ACTIVE).order_by("title", "pk")
        school = self._raw("school")
        if place.kind == "district":  # a district has too many classes for one menu
            classes = classes.filter(school_id=int(school)) if school.isdigit() else classes.none()
        menu = [(c.pk, c.title) for c in classes.only("pk", "title")[:1000]]
        chosen = self._raw("klass")
        if chosen.isdigit() and int(chosen) not in dict(menu):  # a valid class off the menu
            menu += list(self._classes().filter(pk=int(chosen)).values_list("pk", "title"))
        self.fields["klass"].widget.choices = [("", "All classes"), *menu]
        if place.kind == "school":
            del self.fields["school"]

    def _classes(self) -> QuerySet[SchoolClass]:
        """The classes a filter may name: of the place, and of the school chosen, if any."""
        classes = self.place.classes()
        school = self._raw("school")
        if self.place.kind == "district" and school.isdigit():
            classes = classes.filter(school_id=int(school))
        return classes

    def clean_klass(self):
        klass = self.cleaned_data.get("klass")
        if klass is not None and not self._classes().filter(pk=klass).exists():
            school = self._raw("school")
            where = self.school_names.get(int(school)) if school.isdigit() else None
            raise forms.ValidationError(
                f"there is no class “{klass}” at {where or self.place.name}"
            )
        return klass

    def _reason(self, name: str) -> str:
        if name != "klass":
            return super()._reason(name)
        error = str(self.errors[name][0])  # clean_klass's, or a value that is not a number
        if error.startswith("there is no class"):
            return error
        return f"there is no class “{_shown(self._raw(name))}” in {self.place.name}"

    def order(self) -> tuple[str, ...]:
        """The list's total order; with one grade chosen, sorting by grade is sorting by name
        (and the index of the grade filter gives that order)."""
        self.is_valid()
        sort = self.cleaned_data.get("sort") or "name"
        if self.cleaned_data.get("grade"):
            sort = "name"
        return SORTS[sort]

    def hidden(self) -> list[tuple[str, Any]]:
        self.is_valid()
        return [
            (name, self.cleaned_data[name])
            for name in self.FIELDS
            if self.cleaned_data.get(name) not in (None, "")
        ]

    def describe(self) -> str:
        """The students this filter selects, in words, with names, not ids: "active students
        in grade 3 at North Elementary"; "all active students of Springfield District"."""
        data = self.check()
        status = data.get("status") or "active"
        words = {
            "active": "active students",
            "archived": "archived students",
            "all": "students (active or archived)",
        }[status]
        which = []  # before the place: "entered by hand in grade 3 in class Room 1"
        if data.get("origin"):
            which.append("entered by hand" if data["origin"] == Origin.MANUAL else "from the SIS")
        if data.get("grade"):
            which.append(f"in {grade_words(data['grade'])}")
        if data.get("klass"):
            title = self.place.classes().filter(pk=data["klass"]).values_list("title", flat=True)
            which.append(f"in class {title.first()}")
        then = []  # after it: "with guardians matching the search “dunn”"
        if data.get("guardians"):
            then.append("with guardians" if data["guardians"] == "with" else "with no guardian")
        if data.get("q"):
            then.append(f"matching the search “{_shown(data['q'])}”")
        unfiltered = not which and not then and status == "active"
        if data.get("school"):
            where = f"at {self.school_names[data['school']]}"
        elif self.place.kind == "school" and not unfiltered:
            where = f"at {self.place.name}"
        else:
            where = f"of {self.place.name}"
        if unfiltered:
            words = "all active students"
        return " ".join([words, *which, where, *then])

    def apply(self, students: QuerySet[Student]) -> QuerySet[Student]:
        """The students of the place matching this filter (FilterError when it cannot be
        applied: a filter is never dropped)."""
        data = self.check()
        status = data.get("status") or "active"
        if status != "all":
            students = students.filter(status=status)
        else:  # a merge's tombstone is never listed (rollbook.merge)
            students = students.filter(status__in=[Status.ACTIVE, Status.ARCHIVED])
        if data.get("school"):
            students = students.filter(school_id=data["school"])
        if data.get("grade"):
            students = students.filter(grade=data["grade"])
        if data.get("klass"):
            students = students.filter(
                Exists(
                    ClassMembership.objects.filter(
                        student=OuterRef("pk"),
                        school_class_id=data["klass"],
                        status=Status.ACTIVE,
                    )
                )
            )
        if data.get("origin"):
            students = students.filter(origin=data["origin"])
        if data.get("guardians"):
            has = Exists(GuardianLink.objects.filter(student=OuterRef("pk"), status=Status.ACTIVE))
            students = students.filter(has if data["guardians"] == "with" else ~has)
        if data.get("q"):
            students = students.filter(student_search(data["q"], self.place.district))
        return students


class AccountFilter(ListFilter):
    q = forms.CharField(label="Search", required=False, max_length=MAX_SEARCH)
    school = forms.TypedChoiceField(label="School", required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("active", "Active"), ("archived", "Archived role or link"), ("all", "Any")],
    )
    FIELDS = ("q", "school", "status")

    def __init__(self, data: QueryDict, place: Place):
        super().__init__(data, place)
        self.members: list[int] | None = None  # the accounts listed, when apply knows them
        self.fields["school"].choices = [("", "All schools"), *self._school_menu()]
        if place.kind == "school":
            del self.fields["school"]

    def apply(self, kind: str) -> QuerySet[Account]:
        """Guardians (kind "guardians") or staff of the place matching this filter
        (FilterError when it cannot be applied)."""
        data = self.check()
        schools = self.place.schools()
        if data.get("school"):
            schools = schools.filter(pk=data["school"])
        if kind == "guardians":
            roles = GuardianLink.objects.filter(student__school__in=schools)
        else:
            roles = StaffRole.objects.filter(school__in=schools)
        status = data.get("status") or "active"
        # One school's guardians or staff are a few of the district's accounts, anywhere in
        # the order of names: a page does not walk that order (search.FoundByName).
        one_school = self.place.kind == "school" or bool(data.get("school"))
        found = (
            account_matches(data["q"], self.place.district, walk=not one_school)
            if data.get("q")
            else None
        )
        if isinstance(found, list):  # the search's few accounts: their roles read once
            self.members = members(roles, found, status, one_school)
            return Account.objects.filter(ids_q(self.members))
        mine = roles.filter(account=OuterRef("pk"))
        active = Exists(mine.filter(status=Status.ACTIVE))
        if status == "active":
            accounts = Account.objects.filter(active)
        elif status == "archived":
            accounts = Account.objects.filter(Exists(mine)).exclude(active)
        else:
            accounts = Account.objects.filter(Exists(mine))
        return accounts if found is None else accounts.filter(found)


def members(roles: QuerySet, ids: list[int], status: str, one_school: bool) -> list[int]:
    """Which of the accounts ``ids`` the list of ``roles`` (guardian links or staff roles of
    the place) holds: with an active one (``status`` "active"), with roles but none active
    ("archived"), or with any ("all") — the lists' own membership, one query for the few
    accounts a search found instead of one test per account.

    One school's roles are few: shown the ids, PostgreSQL reads that school's roles and keeps
    the ids' (2 ms at L, for 9,000 ids). A district's are millions: it reads the ids' roles,
    which it does best not told how many ids there are (``ids_q``; told, it hashes every
    student of the district: 0.5 s instead of 0.1–0.2 s)."""
    mine = roles.filter(ids_q(ids, "account_id", counted=one_school))

    def holding(rows: QuerySet) -> set[int]:
        return set(rows.values_list("account_id", flat=True))

    if status == "active":
        return sorted(holding(mine.filter(status=Status.ACTIVE)))
    if status == "all":
        return sorted(holding(mine))
    return sorted(holding(mine) - holding(mine.filter(status=Status.ACTIVE)))


# Keyset pagination ----------------------------------------------------------------------------


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(token: str | None, length: int) -> list[Any] | None:
    if not token:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        return None
    if not isinstance(values, list) or len(values) != length:
        return None
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        return None
    return values


def after(fields: tuple[str, ...], values: list[Any], reverse: bool = False) -> Q:
    """Rows strictly after ``values`` in the order of ``fields`` (before, when ``reverse``).

    Written as ``a >= x AND (a > x OR (a = x AND (b > y OR …)))``: the leading bound lets
    both databases start the index walk at the cursor.
    """
    op = "lt" if reverse else "gt"
    op_eq = "lte" if reverse else "gte"
    condition = Q(**{f"{fields[-1]}__{op}": values[-1]})
    for name, value in zip(reversed(fields[:-1]), reversed(values[:-1]), strict=True):
        condition = Q(**{f"{name}__{op}": value}) | (Q(**{name: value}) & condition)
    return Q(**{f"{fields[0]}__{op_eq}": values[0]}) & condition


@dataclass
class Page:
    rows: list
    next_cursor: str | None = None
    previous_cursor: str | None = None
    extra: dict = field(default_factory=dict)


def keyset_page(
    queryset: QuerySet,
    fields: tuple[str, ...],
    data: QueryDict,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of ``queryset`` in the order of ``fields`` after ``?after=`` or before
    ``?before=`` a cursor."""
    forward = decode_cursor(data.get("after"), len(fields))
    backward = None if forward else decode_cursor(data.get("before"), len(fields))
    if backward:
        qs = queryset.filter(after(fields, backward, reverse=True))
        rows = list(qs.order_by(*(f"-{f}" for f in fields))[: size + 1])
        more_before = len(rows) > size
        rows = list(reversed(rows[:size]))
        more_after = True
    else:
        qs = queryset.filter(after(fields, forward)) if forward else queryset
        rows = list(qs.order_by(*fields)[: size + 1])
        more_after = len(rows) > size
        rows = rows[:size]
        more_before = forward is not None
    page = Page(rows)
    if rows and more_after:
        page.next_cursor = encode_cursor([getattr(rows[-1], f) for f in fields])
    if rows and more_before:
        page.previous_cursor = encode_cursor([getattr(rows[0], f) for f in fields])
    return page
