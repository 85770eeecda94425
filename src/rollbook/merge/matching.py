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

Buckets: *ready* (one strong candidate, well ahead of any other), *ambiguous* (several close
candidates), *weak* (only weaker evidence), *no match*.
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


@dataclass
class Candidate:
    student: Kid
    score: int
    reasons: list[str]


@dataclass
class Suggestion:
    old: Kid
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def bucket(self) -> str:
        if not self.candidates:
            return "no_match"
        best = self.candidates[0].score
        second = self.candidates[1].score if len(self.candidates) > 1 else None
        if second is not None and best - second < CLOSE and second >= FLOOR + 20:
            return "ambiguous"
        if best >= STRONG and (second is None or best - second >= CLOSE):
            return "ready"
        return "weak"


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


def name_similarity(old: Kid, new: Kid) -> tuple[float, str]:
    """0–100, and which kind of likeness gave it. Given and family names are compared each on
    its own and the weaker one counts: a brother shares the family name, not the given one."""
    given, given_how = _given_similarity(old, new)
    family, family_how = _part_similarity(fold(old.family_name), fold(new.family_name))
    direct = min(given, family)
    # Given and family names entered the wrong way round.
    swapped_old = Kid(old.id, old.family_name, old.given_name, old.school_id, old.grade, None)
    swapped = min(
        _given_similarity(swapped_old, new)[0],
        _part_similarity(fold(old.given_name), fold(new.family_name))[0],
    )
    if swapped > direct:
        return swapped, "name (given and family names swapped)"
    labels = [h for h in (given_how, family_how) if h]
    return direct, "name" + (f" ({', '.join(dict.fromkeys(labels))})" if labels else "")


def score(old: Kid, new: Kid) -> Candidate:
    similarity, how = name_similarity(old, new)
    points = similarity * 0.6
    reasons = [f"{how}: {round(similarity)}% alike"]
    if old.school_id == new.school_id:
        points += 10
        reasons.append("same school")
    if old.grade and old.grade == new.grade:
        points += 10
        reasons.append("same grade")
    if old.birth_date and new.birth_date:
        if old.birth_date == new.birth_date:
            points += 15
            reasons.append("same birth date")
        else:
            points -= 30
            reasons.append("different birth date")
    shared = old.contacts & new.contacts
    if shared:
        points += 15
        reasons.append("guardian contact in common")
    if old.classes & new.classes:
        points += 5
        reasons.append("class in common")
    return Candidate(new, max(0, min(100, round(points))), reasons)


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
