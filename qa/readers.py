"""Readers that extract typed candidates from routed evidence: document reviews, pull
requests matching a feature, shared demo links and the discussions around them."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from index.profile import file_entity
from qa.lexicon import Lexicon
from qa.records import Analysis, Evidence

URL = re.compile(r"https?://[^\s<>|)\]\"']+")
WORD = re.compile(r"[a-z0-9]{3,}")


def quoted_pattern(shortest: int, longest: int) -> str:
    """A regex for quoted text of that many characters, captured; an apostrophe inside a
    word ("it's", "we'll") opens or closes nothing."""
    return rf"(?<![A-Za-z])['‘\"“]([^'’\"”]{{{shortest},{longest}}})['’\"”](?![A-Za-z])"


QUOTED = re.compile(quoted_pattern(6, 160))
WEAK = {"the", "and", "for", "with", "that", "this", "from", "into", "their", "our", "new", "add", "adding", "implement", "implementing", "implementation", "improve", "improving", "improved", "enhance", "enhancing", "enhanced", "develop", "developing", "feature", "features", "support", "integration", "integrating"}


def clean_url(url: str) -> str:
    return url.rstrip(".,;:!?")


def words_of(text: str) -> set[str]:
    return set(WORD.findall((text or "").lower()))


def docs_of(rows: list[dict[str, Any]], entity: str, doc_type: str | None, lexicon: Lexicon) -> list[dict[str, Any]]:
    """Documents of an entity (by file name) of a document type (by metadata or title)."""
    out = []
    for row in rows:
        if file_entity(row["native_id"], lexicon.aliases) != entity:
            continue
        kind = (row["meta"].get("doc_type") or row["title"] or "").lower()
        if doc_type is None or doc_type.lower() in kind or doc_type.lower() in row["native_id"].replace("_", " ").lower():
            out.append(row)
    return out


def discussions_of(docs: list[dict[str, Any]], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages of the channel-days in which a document's link was shared."""
    keys = set()
    for doc in docs:
        stem = re.sub(r"\.[A-Za-z0-9]+$", "", doc["native_id"].rsplit("/", 1)[-1])
        keys.add(stem.lower())
        if doc.get("url"):
            keys.add(doc["url"].rstrip("/").lower())
    groups = {
        m["group_id"]
        for m in messages
        if any(k in (m["text"] or "").lower() for k in keys)
    }
    return [m for m in messages if m["group_id"] in groups]


def meetings_on(meetings: list[dict[str, Any]], doc_type: str | None) -> list[dict[str, Any]]:
    """Meeting transcripts and chats whose topic is a document type."""
    if not doc_type:
        return []
    topics = {m["meta"].get("meeting") for m in meetings if (m["meta"].get("topic") or "").lower() == doc_type.lower()}
    return [m for m in meetings if m["meta"].get("meeting") in topics]


def speaker_turns(meeting: dict[str, Any], lexicon: Lexicon) -> list[tuple[str, str]]:
    """(employee id, said) turns of a transcript, speakers resolved among its participants."""
    participants = set(meeting.get("people") or [])
    turns = []
    for line in (meeting["text"] or "").splitlines():
        speaker, _, said = line.partition(": ")
        if not said:
            continue
        ids = [i for i in lexicon.resolve_person(speaker) if i in participants] or lexicon.resolve_person(speaker)[:1]
        if ids:
            turns.append((ids[0], said))
    return turns


def read_doc_review(analysis: Analysis, docs: list[dict], messages: list[dict], meetings: list[dict], lexicon: Lexicon) -> Evidence:
    """Authors, reviewers and suggestions of a document from its discussions and meetings."""
    thread = discussions_of(docs, messages)
    meets = meetings_on(meetings, analysis.doc_type)
    support = [d["native_id"] for d in docs] + [m["native_id"] for m in thread] + [m["native_id"] for m in meets]
    said: list[tuple[str, str]] = [(m["author"], m["text"]) for m in thread if m["author"]]
    for meet in meets:
        said.extend(speaker_turns(meet, lexicon))
    authors = [d["author"] for d in docs if d.get("author")]
    people = list(dict.fromkeys([*authors, *(p for p, _ in said), *(p for m in meets for p in m.get("people") or [])]))
    people = [p for p in people if p in lexicon.employees]
    if analysis.roles:
        wanted = {r.lower() for r in analysis.roles}
        sharers = set(authors) | {m["author"] for m in thread if any(u in (m["text"] or "") for u in doc_links(docs))}
        said = [(p, t) for p, t in said if lexicon.role_of(p).lower() in wanted and p not in sharers]
        people = [p for p in people if lexicon.role_of(p).lower() in wanted and p not in sharers]
    texts = [t for _, t in said if t and p_is_suggestion(t)]
    return Evidence(items=people, text="\n".join(f"- {t}" for t in dict.fromkeys(texts)), support=support)


def doc_links(docs: list[dict[str, Any]]) -> list[str]:
    """The links other artifacts use to point at documents."""
    return [d["url"] for d in docs if d.get("url")]


def p_is_suggestion(text: str) -> bool:
    return bool(re.search(r"\b(could|should|might|suggest|consider|add|include|expand|clarify|maybe|perhaps|would|recommend)\b", text, re.IGNORECASE))


def pr_matches(prs: list[dict[str, Any]], analysis: Analysis) -> list[tuple[int, dict[str, Any]]]:
    """Pull requests scored by how many topic words their title and body share."""
    terms = {t for t in analysis.topic_terms if len(t) >= 3} - WEAK
    scored = []
    for pr in prs:
        text = f"{pr['title']} {pr['title']} {pr['text'][:600]}"
        score = len(terms & words_of(text))
        scored.append((score, pr))
    return scored


def pr_state_ok(pr: dict[str, Any], analysis: Analysis) -> bool:
    """Whether a pull request meets the question's approval and merge constraints."""
    meta = pr["meta"]
    approved = meta.get("approved") == "true"
    merged = meta.get("merged") == "true"
    if analysis.has("not_approved") and approved:
        return False
    if analysis.has("approved") and not approved:
        return False
    return not (analysis.has("to_merge", "to_close") and (merged or not approved or meta.get("state") == "closed"))


REVERT = re.compile(r"\brevert(?:s|ed|ing)?\b[^#\d]{0,12}#?\s*(\d+)", re.IGNORECASE)


REASONS = {
    "direction": re.compile(r"\bdirection\b|\bstrateg|\bno longer (align|need)|\bshift|\bpriorit", re.IGNORECASE),
    "bugs": re.compile(r"\bbugs?\b|\berrors?\b|\bfail|\bbroke|\bcrash|\bregression", re.IGNORECASE),
}


def reverted_numbers(prs: list[dict[str, Any]], analysis: Analysis) -> set[str]:
    """Numbers of pull requests that a later pull request reverted, for the reason the
    question gives (a change of direction, or bugs) when it gives one."""
    wanted = [REASONS[r] for r in REASONS if analysis.has(r)]
    out = set()
    for pr in prs:
        m = REVERT.search(pr["title"] or "")
        if m and all(reason.search((pr["text"] or "")[:600]) for reason in wanted):
            out.add(m.group(1))
    return out


def is_revert(pr: dict[str, Any]) -> bool:
    return bool(REVERT.search(pr["title"] or ""))


def read_feature_prs(analysis: Analysis, prs: list[dict[str, Any]]) -> Evidence:
    """Pull requests of the topic that meet the state constraints."""
    scored = [(s, p) for s, p in pr_matches(prs, analysis) if s > 0]
    if not scored:
        return Evidence(note="no pull request matches the topic")
    top = max(s for s, _ in scored)
    close = [p for s, p in scored if s >= max(2, top - 1)] if top >= 2 else []
    if analysis.has("reverted"):
        undone = reverted_numbers(prs, analysis)
        chosen = [p for p in close if p["meta"].get("number") in undone]
    else:
        chosen = [p for p in close if pr_state_ok(p, analysis) and not is_revert(p)]
    return Evidence(items=[p["native_id"] for p in chosen], support=[p["native_id"] for p in close])


def read_pr_authors(analysis: Analysis, prs: list[dict[str, Any]]) -> Evidence:
    """Authors of the pull requests meeting the constraints, the most frequent when asked."""
    chosen = [p for p in prs if pr_state_ok(p, analysis) and p.get("author")]
    counts = Counter(p["author"] for p in chosen)
    if not counts:
        return Evidence(note="no pull requests meet the constraints")
    if analysis.aggregate == "max":
        top = max(counts.values())
        items = sorted(a for a, n in counts.items() if n == top)
    else:
        items = sorted(counts)
    return Evidence(items=items, support=[p["native_id"] for p in chosen])


def shared_links(messages: list[dict[str, Any]], internal: bool | None, pattern: str) -> list[tuple[str, dict]]:
    """(url, message) for links matching a pattern, internal or external to the workspace."""
    out = []
    for m in messages:
        for url in URL.findall(m["text"] or ""):
            url = clean_url(url)
            if not re.search(pattern, url, re.IGNORECASE):
                continue
            is_internal = "/archives/" in url
            if internal is None or internal == is_internal:
                out.append((url, m))
    return out


def read_demos(analysis: Analysis, messages: list[dict[str, Any]]) -> Evidence:
    """Demo links shared in an entity's channels: competitors' (external) or the entity's own
    earlier releases (internal), with who shared them."""
    internal = True if analysis.has("previous_release") else False if analysis.has("competitor") else None
    found = shared_links(messages, internal, r"demo")
    if not found:
        return Evidence(note="no demo links shared")
    groups = {m["group_id"] for _, m in found}
    if internal is False:
        groups |= {m["group_id"] for m in messages if re.search(r"\bcompetit|\brival", m["text"] or "", re.IGNORECASE)}
    support = [m["native_id"] for m in messages if m["group_id"] in groups]
    urls = list(dict.fromkeys(u for u, _ in found))
    people = list(dict.fromkeys(m["author"] for _, m in found if m["author"]))
    return Evidence(items=people if analysis.answer_type == "person" else urls, support=support)


def read_competitors(analysis: Analysis, messages: list[dict[str, Any]]) -> Evidence:
    """Discussions of competitor products in an entity's channels: what was said and by whom."""
    opened = [m for m in messages if re.search(r"\bcompetit|\brival", m["text"] or "", re.IGNORECASE)]
    if not opened:
        return Evidence(note="no competitor discussions")
    groups = {m["group_id"] for m in opened}
    thread = [m for m in messages if m["group_id"] in groups]
    if analysis.has("weaknesses"):
        pattern = r"\b(lack|limit|weak|drawback|concern|however|but|issue|struggle|complex|expensive|steep)"
    elif analysis.has("unique_features"):
        pattern = r"\b(feature|offer|support|provide|unique|allow|include|capabilit)"
    else:
        pattern = r"."
    texts = [m["text"] for m in thread if re.search(pattern, m["text"] or "", re.IGNORECASE)]
    people = list(dict.fromkeys(m["author"] for m in opened if m["author"]))
    return Evidence(
        items=people, text="\n".join(f"- {t}" for t in texts),
        support=[m["native_id"] for m in thread],
    )


def superseded_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Document versions replaced by a newer one of the same type: the earlier releases' work."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_type.setdefault((doc["meta"].get("doc_type") or doc["title"] or "").lower(), []).append(doc)
    older = []
    for versions in by_type.values():
        versions.sort(key=lambda d: (d["created_at"] is None, d["created_at"]))
        older.extend(versions[:-1])
    return older


def read_release_team(analysis: Analysis, docs: list[dict[str, Any]], messages: list[dict[str, Any]], lexicon: Lexicon) -> Evidence:
    """Authors (of the asked roles) of the documents that earlier releases produced, with
    every version of their documents and the discussions that shared the earlier ones."""
    older = superseded_docs(docs)
    wanted = {r.lower() for r in analysis.roles}
    people = [d["author"] for d in older if d.get("author") and (not wanted or lexicon.role_of(d["author"]).lower() in wanted)]
    people = list(dict.fromkeys(people))
    theirs = [d for d in docs if d.get("author") in people] if wanted else older
    support = [d["native_id"] for d in theirs] + [m["native_id"] for m in discussions_of(older, messages)]
    return Evidence(items=people, support=support)


POSITIVE = re.compile(r"\b(positive|praise|appreciat|strength|love|liked|impressive|kudos|great job)", re.IGNORECASE)
NEGATIVE = re.compile(r"\b(issues?|problems?|complain|bugs?|not intuitive|fail|lack|limited|slow|difficult|trouble)\b", re.IGNORECASE)


def read_feedback(analysis: Analysis, messages: list[dict[str, Any]], lexicon: Lexicon) -> Evidence:
    """Customer (or QA) feedback on the earlier release discussed in an entity's channels:
    who reported what, as companies or statements."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        groups.setdefault(m["group_id"], []).append(m)
    want_positive = analysis.has("strengths")
    by_qa = analysis.has("qa_testing")
    chosen, statements, customers = [], [], []
    for thread in groups.values():
        opener = " ".join(m["text"] or "" for m in thread[:2])
        if by_qa:
            hits = [m for m in thread if re.search(r"\bQA\b", m["text"] or "") and NEGATIVE.search(m["text"] or "")]
        else:
            tone = POSITIVE if want_positive else NEGATIVE
            if not tone.search(opener):
                continue
            hits = [m for m in thread if lexicon.ids_in(m["text"], "customer")]
            if not want_positive:
                hits = [m for m in hits if not POSITIVE.search(m["text"] or "")]
        if not hits:
            continue
        chosen.extend(thread)
        statements.extend(m["text"] for m in hits)
        customers.extend(c for m in hits for c in lexicon.ids_in(m["text"], "customer"))
    companies = list(dict.fromkeys(lexicon.company_of(c) for c in customers if lexicon.company_of(c)))
    return Evidence(
        items=companies, text="\n".join(f"- {s}" for s in dict.fromkeys(statements)),
        support=[m["native_id"] for m in chosen],
    )


ASK = re.compile(r"\b(can|could|would|will) you\b|\btake (on|care)\b|\bhandle\b|\bown\b", re.IGNORECASE)


def task_owners(analysis: Analysis, meetings: list[dict[str, Any]], lexicon: Lexicon) -> tuple[list[str], list[str]]:
    """Who was asked to take on the question's topic in planning meetings, and where.

    A turn that names the topic and asks someone to take it is answered by the assignee in
    the next turn; the assignee's name resolves to an id among the meeting's participants.
    """
    terms = {t for t in analysis.topic_terms if len(t) >= 3} - WEAK
    if not terms:
        return [], []
    owners: list[str] = []
    where: list[str] = []
    for meeting in meetings:
        turns = speaker_turns(meeting, lexicon)
        for i, (speaker, said) in enumerate(turns[:-1]):
            overlap = len(terms & words_of(said))
            if overlap < max(1, min(2, len(terms))) or not ASK.search(said):
                continue
            assignee = turns[i + 1][0]
            if assignee != speaker:
                owners.append(assignee)
                where.append(meeting["native_id"])
    return list(dict.fromkeys(owners)), list(dict.fromkeys(where))


def topic_pr_titles(analysis: Analysis, meetings: list[dict[str, Any]], lexicon: Lexicon) -> tuple[set[str], list[str]]:
    """Titles (lower case) of the pull requests that meetings name for the question's topic,
    and where: quoted in the turn that brings the topic up or, if that turn quotes none, in
    the reply to it ("the task on X ..." / "The PR is titled '...'")."""
    terms = {t for t in analysis.topic_terms if len(t) >= 3} - WEAK
    titles: set[str] = set()
    where: list[str] = []
    if not terms:
        return titles, where
    for meeting in meetings:
        turns = speaker_turns(meeting, lexicon)
        for i, (_, said) in enumerate(turns):
            if len(terms & words_of(said)) < max(1, min(2, len(terms))):
                continue
            quoted = QUOTED.findall(said) or (QUOTED.findall(turns[i + 1][1]) if i + 1 < len(turns) else [])
            if quoted:
                titles.update(q.lower() for q in quoted)
                where.append(meeting["native_id"])
    return titles, list(dict.fromkeys(where))


def read_owned_prs(analysis: Analysis, prs: list[dict[str, Any]], meetings: list[dict[str, Any]], lexicon: Lexicon) -> Evidence:
    """Pull requests that meetings name for the topic, with those of the people assigned the
    topic, when titles alone do not name it."""
    titles, named_in = topic_pr_titles(analysis, meetings, lexicon)
    owners, where = task_owners(analysis, meetings, lexicon)
    if not owners and not titles:
        return Evidence(note="no one was assigned the topic")
    where = list(dict.fromkeys([*named_in, *where]))
    mine = [p for p in prs if ((p.get("title") or "").lower() in titles or p.get("author") in owners) and not is_revert(p)]
    if analysis.has("reverted"):
        undone = reverted_numbers(prs, analysis)
        chosen = [p for p in mine if p["meta"].get("number") in undone]
    else:
        chosen = [p for p in mine if pr_state_ok(p, analysis)]
    return Evidence(items=[p["native_id"] for p in chosen], support=[*where, *(p["native_id"] for p in mine)])
