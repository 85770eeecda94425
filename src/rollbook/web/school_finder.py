"""The Directory's school finder: how a district administrator of 1,500 schools picks one.

A ``<select>`` of every school made a district's Directory page 113 KB at L (91 KB of it the
1,519 options). The lists' filter now offers only "All schools" and the chosen school; beside
it, **Find a school** is a plain GET form: the words typed (any part of a name) list the
matching schools as links, each the list's own filter with that school chosen. It works by
keyboard and without JavaScript (an ordinary form and ordinary links); with htmx the form is
boosted, and takes the filter's current values from the filter form (docs/web.md).

The ``school`` value keeps its meaning and its checks (``listing.ListFilter``): a school of
another district or a value that is not a school is a filter that cannot be applied.
"""

from __future__ import annotations

from urllib.parse import urlencode

from .listing import MAX_SEARCH, ListFilter

SHOWN = 20  # matching schools listed; more: type more of the name


class SchoolFinder:
    """What the finder shows for a filter: the words, the matching schools as links, and the
    filter's values the form carries without JavaScript."""

    def __init__(self, form: ListFilter):
        self.form = form
        self.searched = form.find_school is not None  # "Find school" pressed, even empty
        self.query = " ".join((form.find_school or "").split())[:MAX_SEARCH]

    def carried(self) -> list[tuple[str, str]]:
        """The filter's values as given (a value that cannot be applied is kept, never
        dropped: the list then says why)."""
        return [(k, self.form._raw(k)) for k in self.form.FIELDS if self.form._raw(k)]

    def href(self, school_id: int) -> str:
        """The list with this school chosen: the same filter, its class (a class of the school
        chosen before) left out."""
        values = [(k, v) for k, v in self.carried() if k not in ("school", "klass")]
        return "?" + urlencode([*values, ("school", school_id)])

    @property
    def found(self) -> tuple[list[tuple[str, str]], int]:
        """(name, link) of the first matching schools by name, and how many match."""
        if not hasattr(self, "_found"):
            schools = self.form.place.schools()
            for word in self.query.split()[:5]:
                schools = schools.filter(name__icontains=word)
            total = schools.count()
            first = schools.order_by("name", "pk").values_list("pk", "name")[:SHOWN]
            self._found = ([(name, self.href(pk)) for pk, name in first], total)
        return self._found

    @property
    def matches(self) -> list[tuple[str, str]]:
        return self.found[0]

    @property
    def total(self) -> int:
        return self.found[1]

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.matches))
