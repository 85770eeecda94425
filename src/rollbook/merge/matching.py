"""Which synced student each old student (entered by hand before the sync) may be.

Pure functions over plain records: ``services.py`` reads the directory. Candidates are found
by blocking (same school and grade; a shared name token anywhere in the scope; a shared
guardian email or phone), then scored on the evidence, which is kept to be shown:

- name similarity (rapidfuzz) that survives nicknames, swapped given and family names,
  hyphenated or double family names, accents, and typos;
- same school, same grade;
- same birth date when both are known (a different one counts against);
- a guardian email or phone in common;
- a class in common.

Buckets: *ready* (one strong candidate, well ahead of any other, in the same school, with names
at least ``NAMES_ALIKE`` % alike), *needs a look* (one strong candidate, but in another school
or with names further apart), *ambiguous* (several close candidates), *weak* (only weaker
evidence), *no match*. Each suggestion says in words why it is in its bucket (``why``).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz

STRONG = 75  # a candidate this good, alone, is ready to merge
CLOSE = 20  # a second candidate within this many points makes it ambiguous
FLOOR = 40  # below this a candidate is not shown
BLOCK_LIMIT = 300  # a name token shared by more students than this only blocks within a school
NAMES_ALIKE = 85  # names less alike than this (%) are never merged without a look
SECOND = FLOOR + 20  # a second candidate this good, within CLOSE points, makes it ambiguous

BUCKETS = {
    "ready": "Ready",
    "needs_look": "Needs a look",
    "ambiguous": "Ambiguous",
    "weak": "Weak",
    "no_match": "No match",
}

NICKNAMES = {
    "abby": "abigail",
    "al": "alexander",
    "alex": "alexander",
    "andy": "andrew",
    "ben": "benjamin",
    "beth": "elizabeth",
    "bill": "william",
    "billy": "william",
    "bob": "robert",
    "bobby": "robert",
    "cathy": "catherine",
    "charlie": "charles",
    "chris": "christopher",
    "dan": "daniel",
    "danny": "daniel",
    "dave": "david",
    "ed": "edward",
    "eddie": "edward",
    "jim": "james",
    "jimmy": "james",
    "joe": "joseph",
    "joey": "joseph",
    "johnny": "john",
    "jon": "jonathan",
    "kate": "katherine",
    "katie": "katherine",
    "kathy": "katherine",
    "liz": "elizabeth",
    "lizzie": "elizabeth",
    "maggie": "margaret",
    "matt": "matthew",
    "meg": "margaret",
    "mike": "michael",
    "mick": "michael",
    "nate": "nathaniel",
    "nick": "nicholas",
    "pat": "patricia",
    "peggy": "margaret",
    "rob": "robert",
    "sam": "samuel",
    "sandy": "alexandra",
    "steve": "steven",
    "sue": "susan",
    "ted": "edward",
    "tom": "thomas",
    "tommy": "thomas",
    "tony": "anthony",
    "will": "william",
    "zach": "zachary",
}


def fold(value: str | None) -> str:
    """Lower case, accents removed, hyphens and apostrophes as spaces, spaces folded."""
    text = unicodedata.normalize("NFKD", value or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    for mark in ("-", "'", "’", ".", ","):
        text = text.replace(mark, " ")
    return " ".join(text.split())


def canonical_given(value: str) -> str:
    folded = fold(value)
    first = folded.split(" ")[0] if folded else ""
    return NICKNAMES.get(first, first)


@dataclass
class Kid:
    """A student as the matcher sees it."""

    id: int
    given_name: str
    family_name: str
    school_id: int
    grade: str
    birth_date: dt.date | None
    preferred_given_name: str = ""
    school_name: str = ""
    contacts: frozenset[str] = frozenset()  # guardians' emails and phones
    classes: frozenset[int] = frozenset()

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def names(self) -> list[str]:
        out = [fold(f"{self.given_name} {self.family_name}")]
        if self.preferred_given_name:
            out.append(fold(f"{self.preferred_given_name} {self.family_name}"))
        return out

    def tokens(self) -> set[str]:
        return {t for n in self.names() for t in n.split(" ") if len(t) > 1}


@dataclass(frozen=True)
class Names:
    """How alike two students' names are, and how they differ (for the words shown)."""

    percent: int  # 0–100, rounded: the figure shown is the figure the rules use
    how: str = ""  # "nickname", "spelling differs", "double name" (joined), or "" when equal
    swapped: bool = False  # given and family names entered the wrong way round

    def words(self) -> str:
        """'names 67% alike (spelling differs)', 'names 100% alike, given and family names
        swapped'."""
        text = f"names {self.percent}% alike"
        if self.swapped:
            return f"{text}, given and family names swapped"
        return f"{text} ({self.how})" if self.how else text


@dataclass
class Candidate:
    student: Kid
    score: int
    reasons: list[str]  # the evidence, in words, for and against
    names: Names = field(default_factory=lambda: Names(100))
    # Why this candidate, however strong, is never merged without a look (empty: it may be).
    concerns: list[str] = field(default_factory=list)
    # What a pair that may be merged at once still differs in (listed at the confirmation).
    notes: list[str] = field(default_factory=list)


@dataclass
class Suggestion:
    old: Kid
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def runner_up(self) -> Candidate | None:
        return self.candidates[1] if len(self.candidates) > 1 else None

    def _close(self) -> bool:
        best, second = self.best, self.runner_up
        return best is not None and second is not None and best.score - second.score < CLOSE

    @property
    def bucket(self) -> str:
        best, second = self.best, self.runner_up
        if best is None:
            return "no_match"
        if self._close() and second is not None and second.score >= SECOND:
            return "ambiguous"
        if best.score >= STRONG:
            return "needs_look" if best.concerns or self._close() else "ready"
        return "weak"

    @property
    def why(self) -> str:
        """Why the suggestion is in its bucket, in an administrator's words."""
        best, second, bucket = self.best, self.runner_up, self.bucket
        if best is None:
            return f"no synced student among those you may act on scores {FLOOR} or more"
        if bucket == "ambiguous" and second is not None:
            return (
                f"{second.student.name} scores {second.score}, within {CLOSE} points of "
                f"{best.student.name} ({best.score}): decide which one it is"
            )
        if bucket == "weak":
            return f"the best candidate scores {best.score}; one merged at once needs {STRONG}"
        strong = f"a strong candidate (score {best.score})"
        if bucket == "needs_look":
            buts = list(best.concerns)
            if self._close() and second is not None:
                buts.append(f"{second.student.name} scores {second.score}, within {CLOSE} points")
            return f"{strong}, but {'; '.join(buts)}"
        behind = (
            f"the next one {best.score - second.score} points behind"
            if second is not None
            else "no other candidate"
        )
        return f"{strong}, {behind}; same school; {best.names.words()}"


def _part_similarity(a: str, b: str) -> tuple[float, str]:
    """Likeness of two folded name parts: exact, one a part of the other (a double or
    hyphenated family name), or spelling (rapidfuzz's normalised edit similarity)."""
    if not a or not b:
        return 0.0, ""
    if a == b:
        return 100.0, ""
    ta, tb = set(a.split(" ")), set(b.split(" "))
    if ta <= tb or tb <= ta:
        return 95.0, "double name"
    return fuzz.ratio(a, b), "spelling differs"


def _given_similarity(old: Kid, new: Kid) -> tuple[float, str]:
    best, how = 0.0, ""
    for a in filter(None, (old.given_name, old.preferred_given_name)):
        for b in filter(None, (new.given_name, new.preferred_given_name)):
            score, label = _part_similarity(fold(a), fold(b))
            if score < 100 and canonical_given(a) == canonical_given(b):
                score, label = 100.0, "nickname"
            if score > best:
                best, how = score, label
    return best, how


def readings(old: Kid, new: Kid) -> tuple[tuple[float, str], float]:
    """The names compared as entered ((similarity, how)) and with the old student's given and
    family names the other way round (similarity). Given and family names are compared each
    on its own and the weaker one counts: a brother shares the family name, not the given
    one."""
    given, given_how = _given_similarity(old, new)
    family, family_how = _part_similarity(fold(old.family_name), fold(new.family_name))
    labels = ", ".join(dict.fromkeys(h for h in (given_how, family_how) if h))
    swapped_old = Kid(old.id, old.family_name, old.given_name, old.school_id, old.grade, None)
    swapped = min(
        _given_similarity(swapped_old, new)[0],
        _part_similarity(fold(old.given_name), fold(new.family_name))[0],
    )
    return (min(given, family), labels), swapped


def names_alike(old: Kid, new: Kid) -> Names:
    """How alike the names are. Swapped given and family names are claimed only when that
    reading is better than the names as entered and is itself alike enough to merge
    (``NAMES_ALIKE``): two unrelated names are never "swapped"."""
    (direct, how), swapped = readings(old, new)
    if round(swapped) > round(direct) and round(swapped) >= NAMES_ALIKE:
        return Names(round(swapped), "", swapped=True)
    return Names(round(direct), how)


def _birth_words(old: Kid, new: Kid) -> str:
    if old.birth_date and new.birth_date:
        return "same birth date" if old.birth_date == new.birth_date else "different birth date"
    if old.birth_date or new.birth_date:
        return "birth date known on one side only"
    return "no birth dates to compare"


def score(old: Kid, new: Kid) -> Candidate:
    names = names_alike(old, new)
    points = names.percent * 0.6
    reasons = [names.words()]
    concerns, notes = [], []
    if names.percent < NAMES_ALIKE:
        concerns.append(f"{names.words()}, under the {NAMES_ALIKE}% a merge at once needs")
    elif names.percent < 100 or names.how or names.swapped:
        notes.append(names.words())
    if old.school_id == new.school_id:
        points += 10
        reasons.append("same school")
    else:
        schools = f" ({old.school_name} → {new.school_name})" if old.school_name else ""
        reasons.append(f"different schools{schools}")
        concerns.append(f"different schools{schools}")
    if old.grade and old.grade == new.grade:
        points += 10
        reasons.append("same grade")
    elif old.grade and new.grade:
        reasons.append(f"different grade ({old.grade} → {new.grade})")
        notes.append(reasons[-1])
    birth = _birth_words(old, new)
    reasons.append(birth)
    if birth == "same birth date":
        points += 15
    elif birth == "different birth date":
        points -= 30
    elif birth.endswith("one side only"):
        notes.append(birth)
    if old.contacts & new.contacts:
        points += 15
        reasons.append("guardian contact in common")
    if old.classes & new.classes:
        points += 5
        reasons.append("class in common")
    return Candidate(new, max(0, min(100, round(points))), reasons, names, concerns, notes)


def suggest(old_students: list[Kid], synced: list[Kid]) -> list[Suggestion]:
    """Candidates for every old student, best first, in buckets."""
    by_place: dict[tuple[int, str], list[Kid]] = defaultdict(list)
    by_token: dict[str, list[Kid]] = defaultdict(list)
    by_contact: dict[str, list[Kid]] = defaultdict(list)
    for kid in synced:
        by_place[(kid.school_id, kid.grade)].append(kid)
        for token in kid.tokens():
            by_token[token].append(kid)
        for contact in kid.contacts:
            by_contact[contact].append(kid)
    out = []
    for old in old_students:
        pool: dict[int, Kid] = {k.id: k for k in by_place.get((old.school_id, old.grade), [])}
        for token in old.tokens():
            block = by_token.get(token, [])
            if len(block) > BLOCK_LIMIT:
                block = [k for k in block if k.school_id == old.school_id]
            pool.update((k.id, k) for k in block)
        for contact in old.contacts:
            pool.update((k.id, k) for k in by_contact.get(contact, [])[:BLOCK_LIMIT])
        candidates = [c for c in (score(old, k) for k in pool.values()) if c.score >= FLOOR]
        candidates.sort(key=lambda c: (-c.score, c.student.id))
        out.append(Suggestion(old, candidates[:5]))
    return out
