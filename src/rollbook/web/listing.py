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
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404, QueryDict
from django.urls import reverse
from django.utils.functional import cached_property

from rollbook.directory.contacts import ContactError, normalize_phone
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

from .scope import Scope

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


class StudentFilter(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    school = forms.TypedChoiceField(label="School", required=False, coerce=int, empty_value=None)
    grade = forms.ChoiceField(label="Grade", required=False)
    klass = forms.TypedChoiceField(label="Class", required=False, coerce=int, empty_value=None)
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
        super().__init__({k: data.get(k, "") for k in self.FIELDS})
        self.place = place
        schools = list(place.schools().values_list("pk", "name"))
        self.fields["school"].choices = [("", "All schools"), *schools]
        self.fields["grade"].choices = [("", "All grades"), *((g, g) for g in GRADES)]
        classes = place.classes().filter(status=Status.ACTIVE).order_by("title", "pk")
        school = str(self.data.get("school") or "")
        if place.kind == "district":  # a district has too many classes for one menu
            classes = classes.filter(school_id=int(school)) if school.isdigit() else classes.none()
        self.fields["klass"].choices = [
            ("", "All classes"),
            *((c.pk, c.title) for c in classes.only("pk", "title")[:1000]),
        ]
        if place.kind == "school":
            del self.fields["school"]

    def querystring(self) -> str:
        """The filter as a query string, without empty values (for links and forms)."""
        self.is_valid()
        data = QueryDict(mutable=True)
        for name in self.FIELDS:
            value = self.cleaned_data.get(name) if hasattr(self, "cleaned_data") else None
            if value not in (None, ""):
                data[name] = value
        return data.urlencode()

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

    def apply(self, students: QuerySet[Student]) -> QuerySet[Student]:
        """The students of the place matching this filter (invalid choices are ignored)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
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


def _phone(text: str, district: District) -> str | None:
    digits = sum(c.isdigit() for c in text)
    if digits < 7:
        return None
    try:
        return normalize_phone(text, district.default_region)
    except ContactError:
        return None


def student_search(text: str, district: District) -> Q:
    """Name words, a student number or sourcedId, or a guardian's email or phone."""
    text = text.strip()
    q = Q(sis_identifier=text) | Q(sourced_id=text)
    if "@" in text:
        return q | Q(
            Exists(
                GuardianLink.objects.filter(
                    student=OuterRef("pk"), account__email=text.lower(), status=Status.ACTIVE
                )
            )
        )
    phone = _phone(text, district)
    if phone:
        return q | Q(
            Exists(
                GuardianLink.objects.filter(
                    student=OuterRef("pk"), account__phone=phone, status=Status.ACTIVE
                )
            )
        )
    words = Q()
    for word in text.split()[:5]:
        words &= (
            Q(given_name__icontains=word)
            | Q(family_name__icontains=word)
            | Q(preferred_given_name__icontains=word)
            | Q(preferred_family_name__icontains=word)
            | Q(middle_name__icontains=word)
        )
    return q | words


def account_search(text: str, district: District) -> Q:
    """Name words, an email, a phone, or the SIS sourcedId of one of the person's records."""
    text = text.strip()
    if "@" in text:
        return Q(email=text.lower())
    phone = _phone(text, district)
    if phone:
        return Q(phone=phone)
    sourced = Exists(
        GuardianLink.objects.filter(account=OuterRef("pk"), person_sourced_id=text)
    ) | Exists(StaffRole.objects.filter(account=OuterRef("pk"), person_sourced_id=text))
    words = Q()
    for word in text.split()[:5]:
        words &= Q(given_name__icontains=word) | Q(family_name__icontains=word)
    return Q(sourced) | words


class AccountFilter(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    school = forms.TypedChoiceField(label="School", required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("active", "Active"), ("archived", "Archived role or link"), ("all", "Any")],
    )
    FIELDS = ("q", "school", "status")

    def __init__(self, data: QueryDict, place: Place):
        super().__init__({k: data.get(k, "") for k in self.FIELDS})
        self.place = place
        self.fields["school"].choices = [
            ("", "All schools"),
            *place.schools().values_list("pk", "name"),
        ]
        if place.kind == "school":
            del self.fields["school"]

    def querystring(self) -> str:
        self.is_valid()
        data = QueryDict(mutable=True)
        for name in self.FIELDS:
            if self.cleaned_data.get(name) not in (None, ""):
                data[name] = self.cleaned_data[name]
        return data.urlencode()

    def apply(self, kind: str) -> QuerySet[Account]:
        """Guardians (kind "guardians") or staff of the place matching this filter."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        schools = self.place.schools()
        if data.get("school"):
            schools = schools.filter(pk=data["school"])
        if kind == "guardians":
            roles = GuardianLink.objects.filter(account=OuterRef("pk"), student__school__in=schools)
        else:
            roles = StaffRole.objects.filter(account=OuterRef("pk"), school__in=schools)
        status = data.get("status") or "active"
        active = Exists(roles.filter(status=Status.ACTIVE))
        if status == "active":
            accounts = Account.objects.filter(active)
        elif status == "archived":
            accounts = Account.objects.filter(Exists(roles)).exclude(active)
        else:
            accounts = Account.objects.filter(Exists(roles))
        if data.get("q"):
            accounts = accounts.filter(account_search(data["q"], self.place.district))
        return accounts


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
