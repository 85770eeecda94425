"""The Directory's search: each kind of term its own indexed query (issue 18).

A search is one of:

- an **identifier** — a student's number (index ``directory_student_number``) or sourcedId
  (the unique ``(source, sourced_id)`` index, probed once per sync source), a person's sourcedId
  (``directory_guardian_person``, ``directory_staff_person``);
- an **email or phone** — the accounts' unique indexes (active accounts) and the partial
  indexes of inactive ones, then the few students linked to them;
- **name words** — each word must be found, case-insensitively, inside one of the name columns
  (students: given, middle, family, preferred given, preferred family; accounts: given,
  family). Words of three characters or more go through a trigram index: SQLite FTS5 tables
  with the ``trigram`` tokenizer (``directory_student_names``, ``directory_account_names``:
  external content, kept exact by triggers), PostgreSQL ``pg_trgm`` GIN indexes on the
  upper-cased name columns joined by spaces (a word holds no space, so it is found inside the
  joined text exactly when it is found inside one column). Words of one or two characters
  cannot use a trigram index: they filter the rows the longer words found, and a search made
  only of such words reads the whole list as before.

What each finds becomes ``pk IN (the ids)`` when they are few (at most :data:`FEW` on SQLite,
ten times as many on PostgreSQL, see :func:`ids_q`), so that the list's own filters, its scope
and its keyset order apply to a handful of rows; a name matching more rows stays a condition
the database combines with the list (on SQLite a page of a word found in very many names
walks the list's order instead: :class:`FoundByName`).
Nothing here widens a list: every condition narrows the place's own queryset (web/scope.py).
"""

from __future__ import annotations

from django.db import connection
from django.db.models import BooleanField, F, Func, Q

from rollbook.directory.contacts import ContactError, clean_name, normalize_phone
from rollbook.directory.models import (
    Account,
    District,
    GuardianLink,
    StaffRole,
    Status,
    Student,
)

FEW = 2000  # ids passed as a list on SQLite (ten times as many on PostgreSQL, as one array)
#: SQLite: from this many rows found by a name index, a page walks the list's ordered index
#: (see :class:`FoundByName`) instead of fetching and sorting every row found.
WALK = 40_000
MAX_WORDS = 5  # name words searched (as before)
TRIGRAM = 3  # the shortest word a trigram index finds

STUDENT_NAMES = (
    "given_name",
    "middle_name",
    "family_name",
    "preferred_given_name",
    "preferred_family_name",
)
ACCOUNT_NAMES = ("given_name", "family_name")
#: table -> (SQLite FTS5 table, PostgreSQL trigram index, name columns)
NAME_INDEXES = {
    "directory_student": ("directory_student_names", "directory_student_names_trgm", STUDENT_NAMES),
    "directory_account": ("directory_account_names", "directory_account_names_trgm", ACCOUNT_NAMES),
}


# The indexes ----------------------------------------------------------------------------------


def sqlite_definition(table: str) -> list[str]:
    """The FTS5 table of ``table``'s names and the triggers that keep it exact on every write
    (the sync's raw SQL, the ORM, merges, archives): an insert adds the row's names, a delete
    removes them, an update of a name removes the old and adds the new."""
    fts, _, columns = NAME_INDEXES[table]
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in ("id", *columns))
    delete = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"
    insert = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', "
        "content_rowid='id', tokenize='trigram', columnsize=0)",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF id, {cols} ON {table} WHEN {changed} "
        f"BEGIN {delete} {insert} END",
    ]


def postgresql_expression(table: str) -> str:
    """``UPPER(given_name || ' ' || …)``: the text the trigram index holds."""
    _, _, columns = NAME_INDEXES[table]
    return "UPPER(" + " || ' ' || ".join(columns) + ")"


def ensure_name_indexes(using: str = "default", **_) -> list[str]:
    """SQLite: re-create the triggers of a name index if they are gone, and rebuild it.

    Django's SQLite schema editor rebuilds a table to alter it (a later migration adding a
    column to students, say) and its triggers go with the old table; the FTS5 table stays, but
    would no longer follow the writes. Run after every ``migrate`` (``post_migrate``); returns
    the tables it repaired."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "sqlite":
        return []
    repaired = []
    with conn.cursor() as cursor:
        for table, (fts, _, _) in NAME_INDEXES.items():
            cursor.execute(
                "SELECT type, name FROM sqlite_master WHERE name = %s OR "
                "(type = 'trigger' AND tbl_name = %s AND name LIKE %s)",
                [fts, table, f"{fts}_a_"],
            )
            found = {name for _, name in cursor.fetchall()}
            if fts not in found or len(found) == 4:
                continue  # not migrated that far yet, or whole
            for name in found - {fts}:
                cursor.execute(f"DROP TRIGGER {name}")
            for statement in sqlite_definition(table)[1:]:
                cursor.execute(statement)
            cursor.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
            repaired.append(table)
    return repaired


# Name words -----------------------------------------------------------------------------------


def _at_least(sql: str, params: list, n: int) -> bool:
    """Whether the query ``sql`` finds ``n`` rows or more (reading n rows at most)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql} LIMIT {n})", params)
        return cursor.fetchone()[0] >= n


class FoundByName(Func):
    """SQLite: the rows of the list that its FTS5 name index finds (``id IN (…)``).

    SQLite drives such a query from the index: it fetches every row found, tests it against
    the list's other conditions and sorts them all to keep a page of 50. For a word found
    in tens of thousands of names that is the whole cost of the page (a district's guardians
    by "Mar", 78,000 accounts each tested for a link to the district: 0.22-0.25 s at a
    million students). ``walk``: in a page's query (ordered and limited) the condition is
    written ``+id IN (…)``, which SQLite does not use to find rows: it walks the list's own
    ordered index and keeps the first 50 rows that the index's set holds (10 ms for that
    search). A count keeps the index as its driver: it must read every row found anyway."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, sql: str, params: list, walk: bool):
        self.sql, self.params, self.walk = sql, list(params), walk
        super().__init__()

    def as_sql(self, compiler, connection, **extra):
        alias = compiler.query.get_initial_alias()
        column = f"{connection.ops.quote_name(alias)}.{connection.ops.quote_name('id')}"
        page = bool(compiler.query.order_by) and compiler.query.high_mark is not None
        plus = "+" if self.walk and page else ""
        return f"{plus}{column} IN ({self.sql})", self.params


class NamesLike(Func):
    """PostgreSQL: every pattern found in the upper-cased joined names (the trigram index's
    own expression, so that the index serves it)."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, table: str, patterns: list[str]):
        self.table = table
        self.patterns = patterns
        super().__init__()

    def as_sql(self, compiler, connection, **extra):
        alias = compiler.query.get_initial_alias()
        _, _, columns = NAME_INDEXES[self.table]
        quote = connection.ops.quote_name
        text = "UPPER(" + " || ' ' || ".join(f"{quote(alias)}.{quote(c)}" for c in columns) + ")"
        return " AND ".join(f"{text} LIKE UPPER(%s)" for _ in self.patterns), self.patterns


def ids_q(ids: list[int], column: str = "pk", *, counted: bool = False) -> Q:
    """``pk IN (ids)`` (or another ``column``). On PostgreSQL the ids are one array the planner
    cannot see into: told how many rows match, it walks the list's ordered index hoping to meet
    50 of them early, which for a name (clustered in that order) means reading half the index;
    not told, it fetches the few rows by their keys, in key order, and sorts them.
    ``counted``: one array it can see into (it then knows how many ids there are)."""
    if connection.vendor != "postgresql" or not ids:
        return Q(**{f"{column}__in": ids})
    return Q(AnyOf(column, ids, counted=counted))


class AnyOf(Func):
    """PostgreSQL: ``column = ANY(ids)``, the ids one array parameter — behind an InitPlan
    (``(SELECT …)``), whose size the planner does not know, unless ``counted``. An index
    scan of ``= ANY`` probes the ids in key order: for 9,000 accounts' roles at L, 0.10 s
    against 0.16 s for the same ids probed in a hash's order (``IN (SELECT unnest(…))``)."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, column: str, ids: list[int], counted: bool = False):
        self.ids = list(ids)
        self.counted = counted
        super().__init__(F(column))

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        array = "%s::bigint[]" if self.counted else "CAST((SELECT %s::bigint[]) AS bigint[])"
        return f"{sql} = ANY({array})", [*params, self.ids]


def _like(word: str) -> str:
    return f"%{connection.ops.prep_for_like_query(word)}%"


def _fts_query(words: list[str]) -> str:
    return " AND ".join('"' + w.replace('"', '""') + '"' for w in words)


def names(model: type[Student] | type[Account], words: list[str], walk: bool = True) -> Q:
    """Rows whose name columns hold every word (case-insensitive; see the module's text)."""
    found = name_matches(model, words, walk)
    return found if isinstance(found, Q) else ids_q(found)


def name_matches(
    model: type[Student] | type[Account], words: list[str], walk: bool = True
) -> list[int] | Q:
    """What :func:`names` selects: on PostgreSQL, when every word is long enough for the
    trigram index and the rows it finds are few, exactly their ids; otherwise a condition.
    (SQLite's FTS5 finds a superset, which ``icontains`` then narrows: a condition.)
    ``walk``: a page may walk the list's order when the index finds very many rows
    (:class:`FoundByName`; not for a list whose every row costs a test of its own, such as
    one school's guardians, where the few rows in scope lie anywhere in that order)."""
    table = model._meta.db_table
    fts, _, columns = NAME_INDEXES[table]
    long = [w for w in words if len(w) >= TRIGRAM]
    short = [w for w in words if len(w) < TRIGRAM]
    found = Q()
    if long:
        if connection.vendor == "sqlite":
            sql, params = f"SELECT rowid FROM {fts} WHERE {fts} MATCH %s", [_fts_query(long)]
        else:
            sql = f"SELECT id FROM {table} WHERE " + " AND ".join(
                f"{postgresql_expression(table)} LIKE UPPER(%s)" for _ in long
            )
            params = [_like(w) for w in long]
        few = FEW if connection.vendor == "sqlite" else FEW * 10
        with connection.cursor() as cursor:
            cursor.execute(f"{sql} LIMIT {few + 1}", params)
            ids = [row[0] for row in cursor.fetchall()]
        if len(ids) <= few and connection.vendor != "sqlite" and not short:
            return ids
        if len(ids) <= few:
            found &= ids_q(ids)
        elif connection.vendor == "sqlite":
            found &= Q(FoundByName(sql, params, walk and _at_least(sql, params, WALK)))
        else:
            found &= Q(NamesLike(table, params))
    # SQLite's FTS5 ignores the case of every letter, LIKE (``icontains``) of ASCII letters
    # only: the index finds a superset there, and ``icontains`` keeps the search's meaning.
    # PostgreSQL's condition is ``icontains``' own (UPPER … LIKE UPPER …), exact as it is.
    for word in short if connection.vendor != "sqlite" else words:
        either = Q()
        for column in columns:
            either |= Q(**{f"{column}__icontains": word})
        found &= either
    return found


# Identifiers and contacts ---------------------------------------------------------------------


def phone_of(text: str, district: District) -> str | None:
    """``text`` as an E.164 phone when it reads as one (seven digits or more)."""
    if sum(c.isdigit() for c in text) < 7:
        return None
    try:
        return normalize_phone(text, district.default_region)
    except ContactError:
        return None


def _accounts_by_contact(**contact: str) -> list[int]:
    """Accounts with this email or phone: the active one through the unique index, the
    inactive ones through their partial index."""
    active = Account.objects.filter(is_active=True, **contact).values_list("pk", flat=True)
    inactive = Account.objects.filter(is_active=False, **contact).values_list("pk", flat=True)
    return [*active, *inactive]


def _sourced_ids(district: District, text: str) -> list[int]:
    """Students of the district with this SIS sourcedId, through (source, sourced_id)."""
    from rollbook.sync.models import SyncSource

    sources = list(SyncSource.objects.values_list("pk", flat=True))
    if not sources:
        return []
    return list(
        Student.objects.filter(source__in=sources, sourced_id=text, district=district).values_list(
            "pk", flat=True
        )
    )


def student_search(text: str, district: District) -> Q:
    """Name words, a student number or sourcedId, or a guardian's email or phone."""
    text = clean_name(text)  # names are stored in NFC: a search typed in NFD finds them
    ids = set(_sourced_ids(district, text))
    ids.update(
        Student.objects.filter(sis_identifier=text, district=district).values_list("pk", flat=True)
    )
    contact = None
    if "@" in text:
        contact = {"email": text.lower()}
    elif phone := phone_of(text, district):
        contact = {"phone": phone}
    if contact is not None:
        accounts = _accounts_by_contact(**contact)
        ids.update(
            GuardianLink.objects.filter(
                account__in=accounts, status=Status.ACTIVE, student__district=district
            ).values_list("student_id", flat=True)
        )
        return ids_q(sorted(ids))
    found = ids_q(sorted(ids))
    words = text.split()[:MAX_WORDS]
    return found | names(Student, words) if words else found


def account_search(text: str, district: District) -> Q:
    """Name words, an email, a phone, or the SIS sourcedId of one of the person's records."""
    found = account_matches(text, district)
    return found if isinstance(found, Q) else ids_q(found)


def account_matches(text: str, district: District, walk: bool = True) -> list[int] | Q:
    """What :func:`account_search` selects: the accounts' ids when the indexes gave every one
    (an email, a phone, a sourcedId; on PostgreSQL also name words of three characters or
    more matching few accounts), otherwise a condition. The guardians' and staff lists test
    their membership for those ids only (web/listing.py). ``walk``: as for
    :func:`name_matches`."""
    text = clean_name(text)
    if "@" in text:
        return _accounts_by_contact(email=text.lower())
    if phone := phone_of(text, district):
        return _accounts_by_contact(phone=phone)
    ids = set(
        GuardianLink.objects.filter(person_sourced_id=text).values_list("account_id", flat=True)
    )
    staff = StaffRole.objects.filter(person_sourced_id=text)
    ids.update(staff.values_list("account_id", flat=True))
    words = text.split()[:MAX_WORDS]
    named = name_matches(Account, words, walk) if words else []
    if isinstance(named, Q):
        return ids_q(sorted(ids)) | named
    return sorted(ids.union(named))
