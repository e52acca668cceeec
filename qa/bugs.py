"""Bug records read from bug-triage conversations: reports, assignees, customers and what
happened next (resolved with a pull request, judged not to need a fix, reopened)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from qa.lexicon import Lexicon
from qa.readers import quoted_pattern
from qa.records import Analysis

TITLE = re.compile(r"\*\*([^*]{4,120})\*\*|" + quoted_pattern(4, 120))
PR_LINK = re.compile(r"https?://github\.com/[\w.-]+/[\w.-]+/pull/\d+")
RESOLVED = re.compile(r"\b(has been|have been|was|is now|got) (resolved|fixed)\b|\bresolved\b.*\bPR\b", re.IGNORECASE)
NO_FIX = re.compile(r"(does not|doesn't|does n't|did not|didn't) (require|need) (a |any )?fix|\bnot a bug\b|\bexpected behaviou?r\b|\bworking as (intended|designed)\b", re.IGNORECASE)
REOPENED = re.compile(r"\breopen", re.IGNORECASE)
WORD = re.compile(r"[a-z0-9]{3,}")
GENERIC = {"bug", "issue", "issues", "customer", "customers", "team", "the", "and", "with", "for", "this", "that", "has", "have", "been", "was", "titled", "about", "reported", "impacted", "affected"}


@dataclass
class Bug:
    """One reported bug and its history."""

    title: str
    text: str
    channel: str
    report_id: str
    reporter: str | None
    assignee: str | None
    customers: list[str] = field(default_factory=list)
    resolved_by: str | None = None
    prs: list[str] = field(default_factory=list)
    no_fix_by: str | None = None
    reopened: bool = False
    support: list[str] = field(default_factory=list)
    groups: set[str] = field(default_factory=set)

    @property
    def status(self) -> str:
        if self.reopened:
            return "reopened"
        if self.no_fix_by:
            return "no_fix"
        if self.resolved_by:
            return "resolved"
        return "open"

    def words(self) -> set[str]:
        return {w for w in WORD.findall(f"{self.title} {self.text}".lower()) if w not in GENERIC}


def title_in(text: str) -> str | None:
    """The quoted or bold title a message names, if any."""
    for m in TITLE.finditer(text):
        title = (m.group(1) or m.group(2) or "").strip()
        if len(title.split()) >= 2:
            return title
    return None


def summary_of(text: str) -> str:
    """A short name for a bug reported without a quoted title: its first describing clause."""
    m = re.search(r"\b(?:we have|there's|there is|we've got)\s+(?:an?\s+)?([^.!?]{4,100})", text, re.IGNORECASE)
    clause = m.group(1) if m else re.split(r"[.!?]", text, maxsplit=1)[0]
    return clause.strip(" :,-")


def read_bugs(messages: list[dict[str, Any]], lexicon: Lexicon) -> list[Bug]:
    """Bugs reported in the messages of bug channels (oldest first) and their outcomes.

    An outcome (resolved, no fix needed, reopened) belongs to the bug its message names:
    a quoted or bold title, a known title word for word, else the title last named in the
    same conversation (thread or channel-day)."""
    bugs: list[Bug] = []
    by_channel: dict[str, list[Bug]] = defaultdict(list)
    recent_title: dict[str, str] = {}
    for msg in messages:
        text = msg["text"] or ""
        channel = msg["container"] or ""
        author = msg["author"]
        customers = lexicon.ids_in(text, "customer")
        title = title_in(text)
        mentions = [m for m in lexicon.ids_in(text, "employee", mentioned=True) if m != author]
        is_event = RESOLVED.search(text) or REOPENED.search(text) or NO_FIX.search(text)
        if customers and not is_event and (title or mentions):
            title = title or summary_of(text)
            bug = Bug(
                title=title, text=text, channel=channel, report_id=msg["native_id"],
                reporter=author, assignee=mentions[0] if mentions else None,
                customers=list(dict.fromkeys(customers)),
            )
            bug.support.append(msg["native_id"])
            bug.groups.add(msg["group_id"])
            bugs.append(bug)
            by_channel[channel].append(bug)
            continue
        if title:
            recent_title[msg["group_id"]] = title
        event = None
        if REOPENED.search(text):
            event = "reopened"
        elif NO_FIX.search(text):
            event = "no_fix"
        elif RESOLVED.search(text) and (PR_LINK.search(text) or title):
            event = "resolved"
        if not event:
            continue
        named = title or title_named_in(text, by_channel[channel]) or recent_title.get(msg["group_id"])
        bug = match_bug(by_channel[channel], named, text, strict=event == "no_fix")
        if bug is None:
            continue
        bug.support.append(msg["native_id"])
        bug.groups.add(msg["group_id"])
        if event == "reopened":
            bug.reopened = True
            bug.customers.extend(c for c in customers if c not in bug.customers)
        elif event == "no_fix":
            bug.no_fix_by = author
        else:
            bug.resolved_by = author
            bug.prs.extend(p for p in PR_LINK.findall(text) if p not in bug.prs)
    return bugs


def title_named_in(text: str, bugs: list[Bug]) -> str | None:
    """The longest title of `bugs` that the text names word for word, if any."""
    lowered = text.lower()
    named = [b.title for b in bugs if len(b.title.split()) >= 2 and b.title.lower() in lowered]
    return max(named, key=len, default=None)


def match_bug(candidates: list[Bug], title: str | None, text: str, strict: bool = False) -> Bug | None:
    """The bug of a channel an event message refers to, by title or by shared words; a
    `strict` match needs most words of a named title."""
    if not candidates:
        return None
    if title:
        for bug in reversed(candidates):
            if bug.title.lower() == title.lower():
                return bug
        named = {w for w in WORD.findall(title.lower()) if w not in GENERIC}
        scored = [(len(named & b.words()), i) for i, b in enumerate(candidates)]
        best, index = max(scored)
        if named and best >= 0.6 * len(named):
            return candidates[index]
        if strict:
            return None
    words = {w for w in WORD.findall(f"{title or ''} {text}".lower()) if w not in GENERIC}
    scored = [(len(words & set(WORD.findall(b.title.lower()))), i) for i, b in enumerate(candidates)]
    best, index = max(scored)
    return candidates[index] if best >= 1 else None


def select_bugs(bugs: list[Bug], analysis: Analysis, lexicon: Lexicon) -> list[Bug]:
    """Bugs that meet the question's status, customer and person constraints."""
    chosen = bugs
    if analysis.companies:
        wanted = set().union(*(lexicon.customers_of(c) for c in analysis.companies))
        chosen = [b for b in chosen if wanted & set(b.customers)]
    cust_ids = [p for p in analysis.people if p in lexicon.customers]
    if cust_ids:
        chosen = [b for b in chosen if set(cust_ids) & set(b.customers)]
    emp_ids = [p for p in analysis.people if p in lexicon.employees]
    if emp_ids:
        chosen = [b for b in chosen if {b.resolved_by, b.assignee, b.no_fix_by} & set(emp_ids)]
    has = analysis.has
    if has("no_fix", "dismissed"):
        chosen = [b for b in chosen if b.no_fix_by]
    if has("reopened"):
        chosen = [b for b in chosen if b.reopened]
        if has("bug_fix", "authored") and analysis.answer_type == "person":
            chosen = [b for b in chosen if b.resolved_by]
    elif has("unresolved", "active"):
        chosen = [b for b in chosen if b.status in ("open", "reopened")]
    elif has("resolved") and not has("no_fix", "dismissed"):
        chosen = [b for b in chosen if b.resolved_by]
    return chosen


def rank_by_topic(bugs: list[Bug], terms: list[str]) -> list[Bug]:
    """Bugs whose title and report share the most topic words, best first (ties kept)."""
    words = {t for t in terms if len(t) >= 3 and t not in GENERIC}
    if not words or not bugs:
        return bugs
    scores = [(len(words & b.words()), b) for b in bugs]
    top = max(s for s, _ in scores)
    if top == 0:
        return []
    return [b for s, b in scores if s >= max(2, top - 1) or s == top]


def aggregate(bugs: list[Bug], analysis: Analysis, lexicon: Lexicon) -> list[str]:
    """The typed answer over chosen bugs: the top (or all) companies, engineers or PRs."""
    counts: Counter = Counter()
    for bug in bugs:
        if analysis.answer_type == "company":
            for company in {lexicon.company_of(c) for c in bug.customers} - {""}:
                counts[company] += 1
        elif analysis.answer_type == "person":
            if analysis.has("no_fix", "dismissed"):
                person = bug.no_fix_by
            elif analysis.has("resolved", "bug_fix", "authored") or (analysis.has("reopened") and bug.resolved_by):
                person = bug.resolved_by
            elif analysis.has("active", "unresolved"):
                person = bug.assignee
            else:
                person = bug.resolved_by or bug.assignee
            if person:
                counts[person] += 1
        elif analysis.answer_type == "pr":
            for pr in bug.prs:
                counts[pr] += 1
    if not counts:
        return []
    if analysis.aggregate == "max":
        top = max(counts.values())
        return sorted(k for k, v in counts.items() if v == top)
    return sorted(counts)
