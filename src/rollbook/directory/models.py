"""The directory: the platform's own picture of districts, schools, classes and people.

OneRoster feeds it but does not dictate it. Rules that protect people live in the database as
constraints, not only in code:

- one object per (source, sourcedId) in every synced table;
- an email or a phone is the sign-in identifier of at most one *active* account;
- emails are stored trimmed and lower-cased, phones in E.164;
- a manual object has no provenance, a synced object always has it.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Trim


class Status(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class StudentStatus(models.TextChoices):
    """A student may also be a merge's tombstone: merged into its synced twin, hidden from
    the Directory, kept so that the merge can be undone (``rollbook.merge``)."""

    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"
    MERGED = "merged", "Merged into a synced student"


class Origin(models.TextChoices):
    MANUAL = "manual", "Entered by hand"
    SYNCED = "synced", "From the SIS"


class Synced(models.Model):
    """Provenance: where a synced object came from and which run last changed it.

    ``source`` and ``sourced_id`` are both set (synced) or both empty (manual).
    """

    # Both indexed through the unique (source, sourced_id) constraint below; a separate index
    # on each would only slow the sync's bulk writes.
    source = models.ForeignKey(
        "sync.SyncSource",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    sourced_id = models.CharField("SIS sourcedId", max_length=255, null=True, blank=True)
    last_run = models.ForeignKey(
        "sync.SyncRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    sis_fingerprint = models.BigIntegerField(
        null=True, blank=True, help_text="xxh3 of the SIS-owned fields as last delivered."
    )

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["source", "sourced_id"],
                condition=Q(source__isnull=False),
                name="%(app_label)s_%(class)s_one_per_sourced_id",
            ),
            models.CheckConstraint(
                condition=Q(source__isnull=True, sourced_id__isnull=True)
                | Q(source__isnull=False, sourced_id__isnull=False),
                name="%(app_label)s_%(class)s_provenance_complete",
            ),
        ]

    @property
    def is_synced(self) -> bool:
        return self.source_id is not None


class District(models.Model):
    name = models.CharField(max_length=200, unique=True)
    default_region = models.CharField(
        max_length=2,
        default="US",
        help_text="Region used to read phone numbers written without a country code.",
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="IANA time zone (e.g. America/Chicago) of the district's sync schedules.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class School(Synced):
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="schools")
    name = models.CharField(max_length=255)
    identifier = models.CharField(max_length=255, blank=True, help_text="e.g. the NCES id")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)

    class Meta(Synced.Meta):
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AcademicSession(Synced):
    class Kind(models.TextChoices):
        SCHOOL_YEAR = "schoolYear", "School year"
        SEMESTER = "semester", "Semester"
        TERM = "term", "Term"
        GRADING_PERIOD = "gradingPeriod", "Grading period"

    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="sessions")
    title = models.CharField(max_length=255)
    kind = models.CharField(max_length=40, default=Kind.TERM)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    school_year = models.PositiveIntegerField(null=True, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)

    def __str__(self) -> str:
        return self.title


class Course(Synced):
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="courses")
    school = models.ForeignKey(
        School, null=True, blank=True, on_delete=models.PROTECT, related_name="courses"
    )
    title = models.CharField(max_length=255)
    code = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)

    def __str__(self) -> str:
        return self.title


class SchoolClass(Synced):
    """A class (section) taught at a school in one or more terms."""

    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="classes")
    course = models.ForeignKey(
        Course, null=True, blank=True, on_delete=models.PROTECT, related_name="classes"
    )
    title = models.CharField(max_length=255)
    class_code = models.CharField(max_length=255, blank=True)
    class_type = models.CharField(max_length=40, default="scheduled")
    terms = models.ManyToManyField(AcademicSession, blank=True, related_name="classes")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)

    class Meta(Synced.Meta):
        verbose_name = "class"
        verbose_name_plural = "classes"

    def __str__(self) -> str:
        return self.title


class Student(Synced):
    # Indexed through the composite indexes of Meta (district or school first).
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="students", db_index=False
    )
    school = models.ForeignKey(
        School, on_delete=models.PROTECT, related_name="students", db_index=False
    )
    given_name = models.CharField(max_length=255)
    middle_name = models.CharField(max_length=255, blank=True)
    family_name = models.CharField(max_length=255)
    preferred_given_name = models.CharField(max_length=255, blank=True)
    preferred_family_name = models.CharField(max_length=255, blank=True)
    grade = models.CharField(max_length=16, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    sis_identifier = models.CharField(
        "student number", max_length=255, blank=True, help_text="The SIS's human-readable id."
    )
    status = models.CharField(
        max_length=10, choices=StudentStatus.choices, default=StudentStatus.ACTIVE
    )
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.MANUAL)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(Synced.Meta):
        constraints = [
            *Synced.Meta.constraints,
            models.CheckConstraint(
                condition=Q(origin=Origin.MANUAL, source__isnull=True)
                | Q(origin=Origin.SYNCED, source__isnull=False),
                name="directory_student_origin_matches_provenance",
            ),
        ]
        indexes = [
            models.Index(fields=["district", "status", "family_name", "given_name", "id"]),
            models.Index(fields=["school", "status", "family_name", "given_name", "id"]),
            # The web directory's grade filter and grade sort, walked in keyset order.
            models.Index(
                fields=["district", "status", "grade", "family_name", "given_name", "id"],
                name="directory_student_d_grade",
            ),
            models.Index(
                fields=["school", "status", "grade", "family_name", "given_name", "id"],
                name="directory_student_s_grade",
            ),
            # The Directory's search by student number (web/search.py).
            models.Index(fields=["sis_identifier"], name="directory_student_number"),
            # Students entered by hand — few, none once a SIS syncs — found among a million
            # synced ones without reading them all (the self-check, merges).
            models.Index(
                fields=["district", "status"],
                condition=Q(origin=Origin.MANUAL),
                name="directory_student_manual",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def display_name(self) -> str:
        given = self.preferred_given_name or self.given_name
        family = self.preferred_family_name or self.family_name
        return f"{given} {family}"


class AccountManager(BaseUserManager["Account"]):
    def create_user(self, email: str, password: str | None = None, **fields) -> Account:
        account = self.model(email=self.normalize_email(email).lower(), **fields)
        account.set_password(password)
        account.save(using=self._db)
        return account


class Account(AbstractBaseUser):
    """One person who can sign in or be contacted, holding any number of roles.

    Guardian and staff accounts have no usable password in Rollbook; administrators do.
    """

    given_name = models.CharField(max_length=255)
    family_name = models.CharField(max_length=255)
    email = models.CharField(max_length=320, null=True, blank=True)
    phone = models.CharField("phone (E.164)", max_length=20, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.MANUAL)
    created_by_run = models.ForeignKey(
        "sync.SyncRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccountManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["given_name", "family_name"]

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["email"],
                condition=Q(is_active=True, email__isnull=False),
                name="directory_account_email_one_active_account",
            ),
            models.UniqueConstraint(
                fields=["phone"],
                condition=Q(is_active=True, phone__isnull=False),
                name="directory_account_phone_one_active_account",
            ),
            models.CheckConstraint(
                condition=Q(email__isnull=True) | (Q(email=Lower(Trim("email"))) & ~Q(email="")),
                name="directory_account_email_normalised",
            ),
            models.CheckConstraint(
                condition=Q(phone__isnull=True) | Q(phone__startswith="+"),
                name="directory_account_phone_e164",
            ),
        ]
        indexes = [
            models.Index(fields=["family_name", "given_name", "id"]),
            # The Directory's search by email or phone (web/search.py) finds active accounts
            # through the unique indexes above, inactive ones through these.
            models.Index(
                fields=["email"],
                condition=Q(is_active=False, email__isnull=False),
                name="directory_acct_email_inactive",
            ),
            models.Index(
                fields=["phone"],
                condition=Q(is_active=False, phone__isnull=False),
                name="directory_acct_phone_inactive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.given_name


class StaffRole(Synced):
    """A person's job at a school: teacher, aide, counselor, principal, administrator…"""

    ROLE_CHOICES = [
        ("teacher", "Teacher"),
        ("aide", "Aide"),
        ("counselor", "Counselor"),
        ("principal", "Principal"),
        ("administrator", "Administrator"),
        ("proctor", "Proctor"),
        ("staff", "Staff"),
    ]

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="staff_roles")
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="staff_roles")
    role = models.CharField(max_length=40, default="teacher")
    person_sourced_id = models.CharField(
        "SIS sourcedId of the person", max_length=255, null=True, blank=True
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(Synced.Meta):
        # The Directory's search by a person's sourcedId (web/search.py).
        indexes = [models.Index(fields=["person_sourced_id"], name="directory_staff_person")]

    def __str__(self) -> str:
        return f"{self.role} at {self.school_id}"


class GuardianLink(Synced):
    """A guardian relationship between an account and a student."""

    RELATIONSHIP_CHOICES = [
        ("parent", "Parent"),
        ("guardian", "Guardian"),
        ("relative", "Relative"),
    ]

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="guardian_links")
    student = models.ForeignKey(  # indexed by (student, status) below
        Student, on_delete=models.PROTECT, related_name="guardian_links", db_index=False
    )
    relationship = models.CharField(max_length=20, default="parent")
    person_sourced_id = models.CharField(
        "SIS sourcedId of the guardian", max_length=255, null=True, blank=True
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(Synced.Meta):
        constraints = [
            *Synced.Meta.constraints,
            models.UniqueConstraint(
                fields=["account", "student"],
                condition=Q(status=Status.ACTIVE, source__isnull=True),
                name="directory_guardianlink_one_active_manual_link",
            ),
        ]
        indexes = [
            models.Index(fields=["student", "status"]),
            # The Directory's search by a person's sourcedId (web/search.py).
            models.Index(fields=["person_sourced_id"], name="directory_guardian_person"),
        ]

    def __str__(self) -> str:
        return f"{self.relationship} of student {self.student_id}"


class AdministratorRole(models.Model):
    """A Rollbook administrator of a whole district, or of one school of it."""

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="administrator_roles"
    )
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="administrator_roles"
    )
    school = models.ForeignKey(
        School, null=True, blank=True, on_delete=models.PROTECT, related_name="administrators"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "district"],
                condition=Q(school__isnull=True),
                name="directory_administratorrole_one_per_district",
            ),
            models.UniqueConstraint(
                fields=["account", "school"],
                condition=Q(school__isnull=False),
                name="directory_administratorrole_one_per_school",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope_label} {self.account_id}"

    @property
    def scope_label(self) -> str:
        return "district administrator" if self.school_id is None else "school administrator"


class ClassMembership(Synced):
    """A student or a staff member in a class (an enrollment, in OneRoster's words)."""

    school_class = models.ForeignKey(
        SchoolClass, on_delete=models.PROTECT, related_name="memberships"
    )
    student = models.ForeignKey(
        Student, null=True, blank=True, on_delete=models.PROTECT, related_name="memberships"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(max_length=40, default="student")
    person_sourced_id = models.CharField(
        "SIS sourcedId of the person", max_length=255, null=True, blank=True
    )
    is_primary = models.BooleanField(default=False)
    begin_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)

    class Meta(Synced.Meta):
        constraints = [
            *Synced.Meta.constraints,
            models.CheckConstraint(
                condition=Q(student__isnull=False, account__isnull=True)
                | Q(student__isnull=True, account__isnull=False),
                name="directory_classmembership_student_or_staff",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} in class {self.school_class_id}"


class HistoryRecord(models.Model):
    """What the platform accumulated on a student: messages, notes, sign-ups, attendance notes.

    Local data: the sync never changes it; the merge process carries it over.
    """

    class Kind(models.TextChoices):
        MESSAGE = "message", "Message with the family"
        NOTE = "note", "Note"
        EVENT_SIGNUP = "event_signup", "Event sign-up"
        ATTENDANCE_NOTE = "attendance_note", "Attendance note"

    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="history")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    author = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    author_name = models.CharField(max_length=255, blank=True)
    text = models.TextField()

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["student", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.kind} on student {self.student_id}"


class AuditEntry(models.Model):
    """Who — a person, or a sync run — changed what and when, with before and after values."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=255, blank=True)
    run = models.ForeignKey(
        "sync.SyncRun", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    district = models.ForeignKey(
        District, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=40)
    object_id = models.BigIntegerField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(actor__isnull=False) | Q(run__isnull=False) | ~Q(actor_label=""),
                name="directory_auditentry_has_author",
            ),
        ]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}"


class DistrictCounts(models.Model):
    """A district's overview counts, kept exact by ``counts.py`` (decision 0011); ``stale``
    until counted again after a sync's change."""

    district = models.OneToOneField(
        District, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    students_active = models.BigIntegerField(default=0)
    students_archived = models.BigIntegerField(default=0)
    guardians = models.BigIntegerField(default=0)
    staff = models.BigIntegerField(default=0)
    classes = models.BigIntegerField(default=0)
    stale = models.BooleanField(default=True)
    counted_at = models.DateTimeField(null=True, blank=True)

    FIELDS = ("students_active", "students_archived", "guardians", "staff", "classes")

    class Meta:
        verbose_name_plural = "district counts"

    def __str__(self) -> str:
        return f"counts of district {self.district_id}"

    def values(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.FIELDS}
