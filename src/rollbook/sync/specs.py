"""Which directory table each synced entity is written to, and how: the entity → table specs.

One :class:`Spec` per entity (``read.ENTITIES``): the model, the SIS-owned fields the sync
overwrites (database column ← incoming column), the foreign keys resolved from sourcedIds,
which of them a row cannot be written without, constant columns and time stamps. The apply
stage (``apply.py``) writes every entity from its spec; the state (``state.py``) reads every
entity back through the same specs, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rollbook.directory.models import (
    AcademicSession,
    ClassMembership,
    Course,
    GuardianLink,
    SchoolClass,
    StaffRole,
    Student,
)
from rollbook.directory.models import School as SchoolModel


@dataclass(frozen=True)
class Spec:
    """How one entity's records map onto a directory table."""

    model: type
    fields: dict[str, str]  # database column ← incoming column (SIS-owned fields)
    refs: dict[str, tuple[str, str]] = field(default_factory=dict)  # fk ← (entity, column)
    required: tuple[str, ...] = ()  # refs without which the row cannot be written
    one_of: tuple[str, ...] = ()  # exactly the first of these refs that resolves is kept
    extra: dict[str, str] = field(default_factory=dict)  # column ← "district_id" or a value
    stamps: tuple[str, ...] = ()  # creation/modification time columns

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def name(self) -> str:
        return self.model._meta.model_name


SPECS: dict[str, Spec] = {
    "school": Spec(
        SchoolModel,
        {"name": "name", "identifier": "identifier"},
        extra={"district_id": "district_id"},
    ),
    "session": Spec(
        AcademicSession,
        {
            "title": "title",
            "kind": "kind",
            "start_date": "start_date",
            "end_date": "end_date",
            "school_year": "school_year",
        },
        extra={"district_id": "district_id"},
    ),
    "course": Spec(
        Course,
        {"title": "title", "code": "code"},
        refs={"school_id": ("school", "school_sourced_id")},
        extra={"district_id": "district_id"},
    ),
    "class": Spec(
        SchoolClass,
        {"title": "title", "class_code": "class_code", "class_type": "class_type"},
        refs={
            "school_id": ("school", "school_sourced_id"),
            "course_id": ("course", "course_sourced_id"),
        },
        required=("school_id",),
    ),
    "student": Spec(
        Student,
        {
            "given_name": "given_name",
            "middle_name": "middle_name",
            "family_name": "family_name",
            "preferred_given_name": "preferred_given_name",
            "preferred_family_name": "preferred_family_name",
            "grade": "grade",
            "sis_identifier": "identifier",
            "birth_date": "birth_date",
        },
        refs={"school_id": ("school", "school_sourced_id")},
        required=("school_id",),
        extra={"district_id": "district_id", "origin": "synced"},
        stamps=("created_at", "updated_at"),
    ),
    "staff_role": Spec(
        StaffRole,
        {"role": "role", "person_sourced_id": "person_sourced_id"},
        refs={
            "account_id": ("person", "person_sourced_id"),
            "school_id": ("school", "school_sourced_id"),
        },
        required=("account_id", "school_id"),
        stamps=("created_at",),
    ),
    "guardian_link": Spec(
        GuardianLink,
        {"relationship": "relationship", "person_sourced_id": "person_sourced_id"},
        refs={
            "account_id": ("person", "person_sourced_id"),
            "student_id": ("student", "student_sourced_id"),
        },
        required=("account_id", "student_id"),
        stamps=("created_at",),
    ),
    "enrollment": Spec(
        ClassMembership,
        {
            "role": "role",
            "is_primary": "is_primary",
            "begin_date": "begin_date",
            "end_date": "end_date",
            "person_sourced_id": "user_sourced_id",
        },
        refs={
            "school_class_id": ("class", "class_sourced_id"),
            "student_id": ("student", "user_sourced_id"),
            "account_id": ("person", "user_sourced_id"),
        },
        required=("school_class_id",),
        one_of=("student_id", "account_id"),
    ),
}
