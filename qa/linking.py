"""Entity linking: the graph's entities, dates and quotations named in a question's text.

Names come from the graph (`graph_names`): people by full name, id, login or display
name; customers, companies, products (any of their names), repositories, channels;
titles of pull requests, documents, meetings and links matched fuzzily (quoted or not, any
case, a typo or two). A first name alone links a person only when the question's context
(its other entities, a role or location it gives) leaves one; a name that still fits
several people stays ambiguous, its candidates kept.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dateutil import parser as dateparser
from rapidfuzz import fuzz, process

from index.graph import url_key
from index.identity import norm
from qa.graphview import GraphView

URL = re.compile(r"https?://[^\s<>|)\]\"'`]+[^\s<>|)\]\"'`.,;:!?]")
QUOTE = re.compile(r"(?<![A-Za-z])[\"“”‘'`]([^\"“”`]{3,300}?)[\"“”’'`](?![A-Za-z])")
TITLE_TYPES = ("pr", "document", "meeting", "link", "issue")
SHORT_OK = ("id", "github_account", "slack_account", "alias", "channel")
COMMON = {
    "a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "by", "with", "from", "at",
    "as", "is", "are", "was", "were", "be", "been", "who", "whom", "whose", "what", "which",
    "when", "where", "how", "did", "do", "does", "done", "has", "have", "had", "this", "that",
    "these", "those", "it", "its", "me", "my", "our", "we", "you", "your", "i", "pr", "prs",
    "pull", "request", "requests", "link", "links", "url", "doc", "docs", "document",
    "documents", "meeting", "meetings", "channel", "channels", "product", "products", "repo",
    "repository", "team", "customer", "customers", "company", "review", "reviewed", "reviews",
    "said", "say", "says", "about", "report", "reports", "manager", "all", "any", "list",
    "show", "find", "give", "tell", "get", "new", "please", "pls", "can", "could", "would",
    "will",
}
MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|august|september|october|november|december"
DATE_FORMS = [
    r"\b\d{4}-\d{1,2}-\d{1,2}\b",
    r"\b\d{1,2}/\d{1,2}/\d{2,4}\b",
    rf"\b(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{MONTHS})\.?(?:,?\s+\d{{4}})?\b",
    rf"\b(?:{MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b",
]
YEAR = re.compile(r"(?<![\w/-])((?:19|20)\d{2})(?![\w/-])")
MONTH_YEAR = re.compile(rf"\b(?:in\s+)?((?:{MONTHS})\.?)\s+(\d{{4}})\b", re.IGNORECASE)
DATE = re.compile("|".join(DATE_FORMS), re.IGNORECASE)


@dataclass
class Mention:
    """A span of the question linked to graph nodes (several when ambiguous)."""

    text: str
    start: int
    end: int
    type: str
    candidates: list[str]
    how: str
    score: float = 1.0
    alternatives: dict[str, list[str]] = field(default_factory=dict)

    @property
    def resolved(self) -> bool:
        return len(self.candidates) == 1


@dataclass
class DateRange:
    """A day or a span the question names, [start, end)."""

    start: datetime
    end: datetime
    text: str
    any_year: bool = False

    def holds(self, when: datetime | None) -> bool:
        """Whether a moment falls in the range (on that month and day of any year, when the
        question gave no year)."""
        if when is None:
            return False
        if self.any_year:
            when = when.replace(year=self.start.year)
        return self.start <= when < self.end


@dataclass
class Links:
    """Everything linked in one question."""

    question: str
    mentions: list[Mention] = field(default_factory=list)
    dates: list[DateRange] = field(default_factory=list)
    quotes: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    rest: str = ""

    def of_type(self, *types: str) -> list[Mention]:
        return [m for m in self.mentions if m.type in types]

    def summary(self) -> dict:
        return {
            "entities": [{"text": m.text, "type": m.type, "how": m.how, "candidates": m.candidates[:8],
                          "n": len(m.candidates)} for m in self.mentions],
            "dates": [d.text for d in self.dates], "quotes": self.quotes, "roles": self.roles,
            "locations": self.locations, "orgs": self.orgs,
        }


def words(text: str) -> list[tuple[str, int, int]]:
    """The folded words of a text with their character spans."""
    return [(m.group(0).lower(), m.start(), m.end()) for m in re.finditer(r"[A-Za-z0-9]+", text)]


class Linker:
    """Links questions against one graph view."""

    def __init__(self, graph: GraphView, roles: list[str], locations: list[str], orgs: list[str] = ()):
        self.graph = graph
        self.roles = sorted(roles, key=len, reverse=True)
        self.locations = sorted(locations, key=len, reverse=True)
        self.orgs = sorted(orgs, key=len, reverse=True)
        self.first_names: dict[str, list[str]] = defaultdict(list)
        self.titles: list[tuple[str, str, str]] = []
        self.title_words: dict[str, list[int]] = defaultdict(list)
        self.df: dict[str, int] = defaultdict(int)
        self.max_words = 1
        self.acronyms: dict[str, str] = {}
        for folded, entries in graph.names.items():
            self.max_words = max(self.max_words, min(len(folded.split()), 12))
            for node, kind in entries:
                node_type = graph.type_of(node)
                if node_type == "person" and kind == "name" and " " in folded:
                    self.first_names[folded.split()[0]].append(node)
                if node_type in TITLE_TYPES and len(folded.split()) >= 2:
                    index = len(self.titles)
                    self.titles.append((folded, node, kind))
                    for w in set(folded.split()):
                        self.title_words[w].append(index)
                        self.df[w] += 1
                    if 3 <= len(folded.split()) <= 4 and kind == "name":
                        self.acronyms.setdefault("".join(w[0] for w in folded.split()), folded)
        self.vocabulary = sorted(self.title_words)

    def link(self, question: str) -> Links:
        links = Links(question=question)
        taken: list[tuple[int, int]] = []
        for m in QUOTE.finditer(question):
            quoted = m.group(1).strip()
            titled = self.titled(self.corrected(norm(quoted)), whole=True)
            if titled:
                links.mentions.append(Mention(quoted, m.start(1), m.end(1), titled[0], titled[1], "quoted title", titled[2]))
            elif len(quoted.split()) >= 3 or not self.exact(quoted):
                links.quotes.append(quoted)
            else:
                continue
            taken.append((m.start(), m.end()))
        for m in URL.finditer(question):
            node = self.graph.urls.get(url_key(m.group(0)))
            if node:
                links.mentions.append(Mention(m.group(0), m.start(), m.end(), self.graph.type_of(node), [node], "url"))
            taken.append((m.start(), m.end()))
        for m in DATE.finditer(question):
            found = self.day(m.group(0))
            if found and not overlaps(taken, m.start(), m.end()):
                links.dates.append(found)
                taken.append((m.start(), m.end()))
        for m in MONTH_YEAR.finditer(question):
            if not overlaps(taken, m.start(), m.end()):
                start = dateparser.parse(f"1 {m.group(1)} {m.group(2)}").replace(tzinfo=UTC)
                end = (start + timedelta(days=32)).replace(day=1)
                links.dates.append(DateRange(start, end, m.group(0)))
                taken.append((m.start(), m.end()))
        for m in YEAR.finditer(question):
            if not overlaps(taken, m.start(), m.end()):
                start = datetime(int(m.group(1)), 1, 1, tzinfo=UTC)
                links.dates.append(DateRange(start, start.replace(year=start.year + 1), m.group(0)))
                taken.append((m.start(), m.end()))
        links.roles = self.phrases(question, self.roles, taken, plural=True)
        links.locations = self.phrases(question, self.locations, taken)
        links.orgs = self.phrases_before(question, self.orgs, r"\s+(?:team|org|organi[sz]ation)\b", taken)
        self.exact_names(question, links, taken)
        self.fuzzy_titles(question, links, taken)
        self.first_name_mentions(question, links, taken)
        links.rest = "".join(" " if overlaps(taken, i, i + 1) else ch for i, ch in enumerate(question))
        return links

    def exact(self, text: str) -> list[tuple[str, str]]:
        return self.graph.names.get(norm(text), [])

    def exact_names(self, question: str, links: Links, taken: list[tuple[int, int]]) -> None:
        """Longest spans of words that are a node's name, left to right."""
        tokens = words(question)
        i = 0
        while i < len(tokens):
            for n in range(min(self.max_words, len(tokens) - i), 0, -1):
                start, end = tokens[i][1], tokens[i + n - 1][2]
                if overlaps(taken, start, end):
                    continue
                folded = " ".join(t for t, _, _ in tokens[i : i + n])
                entries = self.graph.names.get(folded)
                if not entries or (n == 1 and not self.short_ok(folded, entries, question[start:end])):
                    continue
                by_type: dict[str, list[str]] = defaultdict(list)
                for node, _ in entries:
                    node_type = self.graph.type_of(node)
                    if node not in by_type[node_type]:
                        by_type[node_type].append(node)
                known = [n for n in by_type.get("person", []) if n in self.graph.directory]
                if known:
                    by_type["person"] = known
                node_type = max(by_type, key=lambda t: (t in TITLE_TYPES or t == "person", -len(by_type[t]), t))
                how = ",".join(sorted({k for _, k in entries}))
                links.mentions.append(Mention(question[start:end], start, end, node_type, by_type[node_type], how,
                                              alternatives={t: ns for t, ns in by_type.items() if t != node_type}))
                taken.append((start, end))
                i += n - 1
                break
            i += 1

    @staticmethod
    def short_ok(folded: str, entries: list[tuple[str, str]], raw: str) -> bool:
        """A one-word name links only when it is an id, a login, a product or channel name,
        or a capitalised word that is not a common one."""
        if folded in COMMON or len(folded) < 3:
            return False
        kinds = {k for _, k in entries}
        return bool(kinds & set(SHORT_OK)) or (raw[:1].isupper() and folded not in COMMON)

    def titled(self, text: str, whole: bool = False) -> tuple[str, list[str], float] | None:
        """The title a text names (its type, nodes and score), tolerating case and typos."""
        folded = norm(text)
        exact = [(n, k) for n, k in self.graph.names.get(folded, []) if self.graph.type_of(n) in TITLE_TYPES]
        if exact:
            nodes = list(dict.fromkeys(n for n, _ in exact))
            return self.graph.type_of(nodes[0]), nodes, 100.0
        best = self.best_titles(folded, whole)
        if not best:
            return None
        score, nodes = best
        return self.graph.type_of(nodes[0]), nodes, score

    def best_titles(self, folded: str, whole: bool) -> tuple[float, list[str]] | None:
        """Titles most of whose words the text holds (all of them, or nearly word for word,
        for a quoted title), rare words weighing in; ties go to the longest title."""
        query = set(folded.split())
        pool: dict[int, int] = defaultdict(int)
        for w in query:
            if w in COMMON or self.df.get(w, 0) > 400:
                continue
            for index in self.title_words.get(w, []):
                pool[index] += 1
        scored = []
        for index in pool:
            title, node, _ = self.titles[index]
            tokens = set(title.split())
            shared = tokens & query
            cover = len(shared) / len(tokens)
            rare = any(self.df.get(w, 0) <= 50 for w in shared)
            if len(shared) < 2 or not (rare or len(shared) >= 3):
                continue
            if whole:
                ok = fuzz.ratio(title, folded) >= 88 or (cover == 1 and len(query) <= len(tokens) + 1)
            else:
                ok = cover >= 0.75
            if ok:
                scored.append((round(100 * cover + fuzz.partial_ratio(title, folded) / 100, 3), len(tokens), node))
        if not scored:
            return None
        top = max(s for s, _, _ in scored)
        longest = max(size for s, size, _ in scored if s >= top - 1)
        nodes = [n for s, size, n in scored if s >= top - 1 and size == longest]
        return top, list(dict.fromkeys(nodes))

    def corrected(self, text: str) -> str:
        """A question's words with acronyms of titles spelled out ("prd"), prefixes of title
        words completed ("spec", "tech") and small typos mended, for title matching."""
        out = []
        for w in text.split():
            if w in self.title_words or w in COMMON or w.isdigit():
                out.append(w)
            elif w in self.acronyms:
                out.append(self.acronyms[w])
            elif len(w) >= 4:
                prefixed = [v for v in self.vocabulary if v.startswith(w) and len(v) > len(w)]
                close = process.extractOne(w, self.vocabulary, scorer=fuzz.ratio, score_cutoff=85) if len(w) >= 5 else None
                out.append(close[0] if close else min(prefixed, key=lambda v: (-self.df[v], v)) if prefixed else w)
            else:
                out.append(w)
        return " ".join(out)

    def fuzzy_titles(self, question: str, links: Links, taken: list[tuple[int, int]]) -> None:
        """Unquoted titles written with other case, words or a typo or two."""
        if links.of_type(*TITLE_TYPES):
            return
        free = self.corrected(" ".join(w for w, s, e in words(question)))
        if len(free.split()) < 2:
            return
        best = self.best_titles(free, whole=False)
        if best:
            score, nodes = best
            node_type = self.graph.type_of(nodes[0])
            links.mentions.append(Mention(self.graph.display.get(nodes[0], ""), -1, -1, node_type, nodes, "fuzzy title", score))
            title_words = set(norm(self.graph.display.get(nodes[0], "")).split())
            for w, s, e in words(question):
                if w in title_words and w not in COMMON and not overlaps(taken, s, e):
                    taken.append((s, e))

    def first_name_mentions(self, question: str, links: Links, taken: list[tuple[int, int]]) -> None:
        """Capitalised first names, kept with every person who has them."""
        for m in re.finditer(r"\b[A-Z][a-z]+\b", question):
            first = m.group(0).lower()
            if first in COMMON or first not in self.first_names or overlaps(taken, m.start(), m.end()):
                continue
            links.mentions.append(Mention(m.group(0), m.start(), m.end(), "person", list(self.first_names[first]), "first name", 0.5))
            taken.append((m.start(), m.end()))

    @staticmethod
    def phrases(question: str, names: list[str], taken: list[tuple[int, int]], plural: bool = False) -> list[str]:
        found = []
        for name in names:
            suffix = r"(?:s|es)?" if plural else ""
            for m in re.finditer(rf"(?<![A-Za-z0-9]){re.escape(name)}{suffix}(?![A-Za-z0-9])", question, re.IGNORECASE):
                if not overlaps(taken, m.start(), m.end()):
                    found.append(name)
                    taken.append((m.start(), m.end()))
        return found

    @staticmethod
    def phrases_before(question: str, names: list[str], after: str, taken: list[tuple[int, int]]) -> list[str]:
        """Names written before a word that says what they are ("the tableau team")."""
        found = []
        for name in names:
            for m in re.finditer(rf"(?<![A-Za-z0-9]){re.escape(name)}(?={after})", question, re.IGNORECASE):
                if not overlaps(taken, m.start(), m.end()):
                    found.append(name)
                    taken.append((m.start(), m.end()))
        return found

    def day(self, text: str) -> DateRange | None:
        """A written date as one day; one written without a year holds in any year."""
        cleaned = re.sub(r"(?i)\b(the|of)\b|(?<=\d)(st|nd|rd|th)\b", " ", text)
        dayfirst = bool(re.match(r"\s*(\d{1,2})/(\d{1,2})/", cleaned)) and int(re.match(r"\s*(\d{1,2})", cleaned).group(1)) > 12
        try:
            parsed = dateparser.parse(cleaned, dayfirst=dayfirst, default=datetime(2000, 1, 1))
        except (ValueError, OverflowError):
            return None
        has_year = bool(re.search(r"\d{4}|/\d{2,4}\b", text))
        start = datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
        return DateRange(start, start + timedelta(days=1), text, any_year=not has_year)


def overlaps(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in taken)
