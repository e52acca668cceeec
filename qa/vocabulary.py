"""Words for relations and for what a question asks: one vocabulary per graph relation and
per answer type, never per question family. A new relation needs a line here."""

from __future__ import annotations

import re
from dataclasses import dataclass

RELATION_WORDS: dict[str, str] = {
    "reports_to": r"manag\w*|boss|supervis\w*|reports? to|report(?:s|ing)? into|direct reports?|reportees?|directs|(?:'s|s') reports|under whom",
    "authored": r"author\w*|wr[oi]te|written|draft\w*|put together|prepared|opened|open(?:s|ed)? by|created|submitted|raised|filed|made|owner",
    "reviewed": r"review\w*|looked at|commented on",
    "approved": r"approv\w*|signed off|sign[- ]off|lgtm",
    "attended": r"attend\w*|participa\w*|present at|(?:was|were|is|are|who's|whos) (?:in|at)\b|joined|in the (?:meeting|call)|on the call|invited",
    "spoke_in": r"spoke|speak\w*|talked|presented",
    "posted": r"said|says|say|wrote|posted|messaged|sent|typed",
    "shared": r"shar\w*|posted|sent|dropped",
    "mentions": r"mention\w*|tagged|pinged|named",
    "created": r"creat\w*|started|set up|made",
    "member_of": r"members?|joined|invited|in the channel|belongs? to|(?:is|are|who's|whos) in\b",
    "works_at": r"works? (?:at|for)|employ\w*|compan(?:y|ies)",
    "in_org": r"\borg\b|organi[sz]ation|business unit",
    "in_channel": r"channel",
    "links_to": r"link\w*|url",
    "in_repo": r"\brepo(?:s|sitor(?:y|ies))?\b",
    "reverts": r"revert\w*|roll(?:ed)? back|undid",
    "superseded_by": r"(?:newer|older|earlier|previous|prior|later|latest|last) versions?|superseded|replaced",
    "about": r"\bfor\b|\bof\b|\babout\b|product",
}
STRUCTURAL = {"in_channel", "in_repo", "links_to", "about", "in_org"}
INVERSE_SAME_TYPE: dict[str, str] = {
    "reports_to": r"\breports? to (?!whom)\w|\bdirect reports?\b|\breportees?\b|\bdirects\b|(?:'s|s') reports\b|\bmanages?\b(?! (?:by|to))|\bmanaged\b(?! by)|\bteam of\b|\bunder (?!whom)\w|'s reports\b|\bwho does \S+(?: \S+)? manage",
    "superseded_by": r"\b(?:older|earlier|previous|prior) versions?\b",
    "reverts": r"\breverted by\b|\bwhat reverted\b|\bwhich (?:pr|pull request) reverted\b",
    "renamed_to": r"\b(?:old|former|previous) name\b|\bused to be called\b|\bformerly\b",
}
ALSO = {"shared": {"links_to"}, "posted": {"links_to"}}
ATTRIBUTES = {
    "date": r"^\s*when\b|\bwhat (?:date|day|time)\b|\bwhich (?:date|day)\b|\bon what day\b|\bdate of\b",
    "role": r"\b(?:role|title|position|job)\b|\bwhat does \S+(?: \S+)? do\b",
    "location": r"^\s*where (?:is|are|does)\b.*\b(?:based|located|work|sit|live)\b|\blocation\b|\b(?:which|what) (?:office|city)\b",
    "state": r"\b(?:state|status)\b|\b(?:was|is|did|has|have)\b[^?]*\bmerged\b(?: or not)?\W*$|\bmerged or not\b|\bwhat happened to\b",
    "url": r"\blinks?\b|\burls?\b|\bwhere can i find\b",
    "count": r"\bhow many\b|\bnumber of\b|\bcount\b",
}
TYPE_WORDS = [
    ("company", r"\bcompan(?:y|ies)\b|\bwhich (?:customer|client)s?'? (?:company|org)"),
    ("pr", r"\bprs?\b|\bpull requests?\b|\bpatch(?:es)?\b"),
    ("meeting", r"\bmeetings?\b|\bcalls?\b|\bsyncs?\b|\bstand-?ups?\b"),
    ("channel", r"\bchannels?\b|\bwhere (?:was|were|did)\b.*\b(?:shared|posted|said|discussed|mentioned)\b"),
    ("document", r"\bdoc(?:ument)?s?\b|\breports?\b(?! to)|\bspecs?\b|\bprd\b"),
    ("repository", r"\brepos?(?:itor(?:y|ies))?\b"),
    ("product", r"\bproducts?\b"),
    ("customer", r"\bcustomers?\b|\bclients?\b"),
    ("link", r"\barticles?\b|\bbookmarks?\b|\bblog posts?\b|\bwebsites?\b|\bpages?\b"),
    ("person", r"^\s*(?:who|whom|whose)\b|\bwho\b|\bwhich (?:person|people|employees?|engineers?|members?)\b|\bemployee ?ids?\b|\bpeople\b|\bpersons?\b|\breviewers?\b|\bauthors?\b|\battendees\b|\bparticipants\b|\bmanager\b|\bboss\b|\bsupervisor\b|\bteam ?mates?\b|\breports\b"),
]


@dataclass
class Ask:
    """What a question asks for: a node type, and an attribute of it when a value is wanted;
    `weak` when only a bare "who" says the type ("who does X work for")."""

    type: str | None
    attribute: str | None = None
    count: bool = False
    weak: bool = False

    @property
    def answer_type(self) -> str:
        """The answer's type in the benchmark's terms."""
        if self.count or self.attribute not in (None, "url"):
            return "content"
        if self.attribute == "url":
            return "pr" if self.type == "pr" else "url"
        return {"person": "person", "company": "company", "pr": "pr"}.get(self.type or "", "content")


def relations_in(question: str) -> list[frozenset[str]]:
    """The relations the question's words name: one set per phrase (a word such as "created"
    can name several), in order of appearance; structural relations (in a channel, of a
    product) are left to the path."""
    spans: list[tuple[int, int, str]] = []
    for rel, pattern in RELATION_WORDS.items():
        if rel in STRUCTURAL:
            continue
        for m in re.finditer(rf"(?<![a-z])(?:{pattern})", question, re.IGNORECASE):
            spans.append((m.start(), m.end(), rel))
    groups: list[tuple[int, int, set[str]]] = []
    for start, end, rel in sorted(spans):
        if groups and start < groups[-1][1]:
            groups[-1] = (groups[-1][0], max(end, groups[-1][1]), groups[-1][2] | {rel})
        else:
            groups.append((start, end, {rel}))
    return [frozenset(g | set().union(*(ALSO.get(r, set()) for r in g))) for _, _, g in groups]


def inverse_wording(question: str, rel: str) -> bool:
    """Whether a relation between two nodes of one type is asked from its object's side."""
    pattern = INVERSE_SAME_TYPE.get(rel)
    return bool(pattern and re.search(pattern, question, re.IGNORECASE))


def type_named(question: str) -> str | None:
    """The node type named right after the question's asking word (which, what, list, ...)."""
    m = re.search(r"\b(?:which|what|list|how many|give me|find|show me|show|get|all)\b((?:\s+\S+){1,4})", question, re.IGNORECASE)
    m = m or re.match(r"\s*((?:the\s+)?\w+)\s+(?:of|for)\b", question, re.IGNORECASE)
    if not m:
        return None
    following = m.group(1)
    found = []
    for name, pattern in TYPE_WORDS:
        hit = re.search(pattern, following, re.IGNORECASE)
        if hit:
            found.append((hit.start(), name))
    return min(found)[1] if found else None


def types_named(question: str) -> list[str]:
    """Every node type a question names anywhere."""
    return [name for name, pattern in TYPE_WORDS if name != "person" and re.search(pattern, question, re.IGNORECASE)]


def ask_of(question: str) -> Ask:
    """The answer type a question asks for, from its wording."""
    q = question.strip()
    count = bool(re.search(ATTRIBUTES["count"], q, re.IGNORECASE))
    attribute = None
    for name in ("date", "role", "location", "state", "url"):
        if re.search(ATTRIBUTES[name], q, re.IGNORECASE):
            attribute = name
            break
    node_type = None
    if re.match(r"\s*where\b", q, re.IGNORECASE) and re.search(r"\b(?:shared|posted|said|discussed|mentioned|dropped|sent)\b", q, re.IGNORECASE):
        node_type = "channel"
    else:
        node_type = type_named(q)
    weak = False
    if node_type is None and re.search(r"\bwho(?:m|se|'?s)?\b", q, re.IGNORECASE):
        node_type, weak = "person", not re.search(TYPE_WORDS[-1][1], q.replace("who", ""), re.IGNORECASE)
    if attribute in ("role", "location") and node_type not in ("person", "customer"):
        node_type = "person"
    if attribute == "url" and (re.search(r"https?://", q) or node_type in ("channel", "person", "company", "customer", "repository", "product")):
        attribute = None
    return Ask(type=node_type, attribute=attribute, count=count, weak=weak)


FILLER = {
    "a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "by", "with", "from", "at",
    "as", "is", "are", "was", "were", "be", "been", "being", "who", "whom", "whose", "what",
    "which", "when", "where", "why", "how", "did", "do", "does", "done", "has", "have", "had",
    "this", "that", "these", "those", "it", "its", "me", "my", "our", "we", "you", "your", "i",
    "us", "they", "them", "their", "there", "here", "any", "some", "all", "each", "every",
    "one", "ones", "can", "could", "would", "will", "should", "may", "might", "must", "shall",
    "please", "pls", "plz", "thanks", "thank", "thx", "asap", "quick", "q", "hey", "hi",
    "hello", "sorry", "help", "know", "anyone", "someone", "somebody", "tell", "need", "needs",
    "want", "wondering", "question", "just", "also", "again", "ever", "still", "really",
    "actually", "exactly", "get", "got", "give", "show", "find", "list", "send", "let", "share",
    "name", "names", "id", "ids", "up", "out", "about", "like", "not", "no", "yes", "so", "if",
    "then", "than", "into", "over", "only", "very", "more", "most", "much", "many", "other",
    "same", "such", "via", "per", "vs", "etc", "doc", "docs", "writing", "write", "note",
    "notes", "time", "ok", "okay", "kind", "sort", "whoever", "whatever",
}


def leftover_terms(rest: str) -> list[str]:
    """Content words of the question's unlinked part that no relation, type or attribute
    word explains: a topic the graph path does not account for."""
    text = rest
    patterns = [*RELATION_WORDS.values(), *INVERSE_SAME_TYPE.values(), *ATTRIBUTES.values(), *(p for _, p in TYPE_WORDS)]
    for pattern in patterns:
        text = re.sub(rf"(?<![a-z])(?:{pattern})", " ", text, flags=re.IGNORECASE)
    words = re.findall(r"[a-z][a-z0-9]+", text.lower())
    return [w for w in words if len(w) >= 3 and w not in FILLER]
