"""Question analysis: answer type, named entities (learned from the store) and constraints."""

from __future__ import annotations

import re
from collections import Counter

from qa.lexicon import Lexicon
from qa.records import Analysis, AnswerType

CONSTRAINTS: list[tuple[str, str]] = [
    ("not_approved", r"\b(not|never|weren'?t|wasn'?t|un)[ -]?approved\b|\bunapproved\b|\brejected\b|\bwithout approval\b"),
    ("approved", r"\bapproved\b|\bapproval\b"),
    ("to_merge", r"\b(need|needs|ready|waiting|pending)\b[\w ]{0,15}\bmerg"),
    ("to_close", r"\b(need|needs|should)\b[\w ]{0,15}\bclos"),
    ("reverted", r"\brevert"),
    ("reopened", r"\bre-?opened?\b|\breopen"),
    ("no_fix", r"(did ?n[o']t|do ?n[o']t|does ?n[o']t|didn’t|not)\s+(need|require)\w*\s+(any\s+)?(a\s+)?fix|\bno fix|\bwon'?t fix|\bnot a bug\b"),
    ("dismissed", r"\bdismiss"),
    ("unresolved", r"\bunresolved\b|\bopen (bugs|issues)\b|\boutstanding\b|\bstill open\b|\bnot (yet )?(resolved|fixed)\b"),
    ("active", r"\bactive\b|\bcurrently working\b|\bin progress\b"),
    ("resolved", r"\b(resolved|fixed|solved)\b"),
    ("competitor", r"\bcompetit|\brival"),
    ("previous_release", r"\b(previous|prior|last|earlier|old)\s+(release|version)\b"),
    ("demo", r"\bdemo"),
    ("reviewed", r"\breview"),
    ("authored", r"\bauthor|\bwrote\b|\bwritten\b"),
    ("suggestions", r"\bsuggest|\bimprove|\brecommend|\bfeedback on\b|\bchanges\b"),
    ("strengths", r"\bstrength|\bhighlight|\bliked\b|\bpraise|\bpositive"),
    ("weaknesses", r"\bweakness|\bdrawback|\bshortcoming|\blimitation"),
    ("unique_features", r"\bunique features?\b|\bdifferentiat|\bstand out\b"),
    ("insights", r"\binsights?\b"),
    ("qa_testing", r"\bqa testing\b|\bduring (qa|testing)\b|\btesting\b"),
    ("not_implemented", r"\bnot (been )?implemented\b|\bnever (got )?(built|implemented)\b|\bcould ?n[o']t be added\b|\bcould not be added\b|\bnot added\b|\bdropped\b"),
    ("delayed", r"\bdelay|\bpostpon|\bdeferred\b"),
    ("added", r"\b(are|were|have been|has been|got|get) added\b|\bnew features?\b|\bshipped\b"),
    ("security", r"\bsecurity (risk|concern)|\bsecurity reason"),
    ("direction", r"\bproduct direction\b|\bdirection change|\bchange (in|of) direction"),
    ("bugs", r"\bbugs?\b|\bissues?\b|\bdefects?\b|\bproblems?\b"),
    ("customer", r"\bcustomers?\b|\bclients?\b"),
    ("feature_dev", r"\bfeature (development|work)\b|\bfeature prs?\b"),
    ("bug_fix", r"\bbug ?fix"),
    ("responsible", r"\bresponsible\b|\bowners?\b"),
    ("worked_on", r"\bworked on\b|\bcontribut"),
    ("shared", r"\bshared?\b|\bposted\b|\bsent\b"),
]
AGGREGATE = re.compile(r"\b(maximum|max|most|highest|largest|greatest|top)\b", re.IGNORECASE)
PERSON = re.compile(r"\bemployee ?ids?\b|\bwho\b|\bengineers?\b|\bteam members?\b|\bpeople\b|\bpersons?\b|\breviewers?\b|\bauthors?\b", re.IGNORECASE)
COMPANY = re.compile(r"\bcompan(y|ies)\b|\bcustomers?'? names?\b|\bwhich customers?\b|\borgani[sz]ations?\b", re.IGNORECASE)
PR = re.compile(r"\bprs?\b|\bpull requests?\b", re.IGNORECASE)
URL = re.compile(r"\burls?\b|\blinks?\b|\bwebsites?\b", re.IGNORECASE)
SCAFFOLD = {"find", "list", "show", "give", "get", "provide", "can", "could", "would", "you", "please", "me", "the", "a", "an", "all", "of", "in", "for", "to", "and", "or", "that", "which", "who", "whom", "what", "were", "was", "are", "is", "be", "been", "being", "did", "do", "does", "with", "by", "from", "on", "at", "as", "its", "it's", "their", "there", "this", "these", "those", "any", "some", "links", "link", "urls", "url", "pr", "prs", "pull", "request", "requests", "employee", "ids", "id", "names", "name", "company", "companies", "product", "products", "related", "regarding", "about", "into", "feature", "features", "need", "needs", "needed"}


def answer_type_of(question: str) -> AnswerType:
    """The type of answer a question asks for."""
    q = question
    if re.search(r"\bemployee ?ids?\b", q, re.IGNORECASE):
        return "person"
    if COMPANY.search(q) and re.search(r"\bnames?\b|\bwhich\b|\bwhat\b|\bfind\b|\blist\b", q, re.IGNORECASE):
        return "company"
    if PR.search(q) and (URL.search(q) or not PERSON.search(q)):
        return "pr"
    if URL.search(q):
        return "url"
    if re.match(r"\s*who\b", q, re.IGNORECASE) or (re.match(r"\s*which\b", q, re.IGNORECASE) and PERSON.search(lead_of(q))):
        return "person"
    return "content"


def lead_of(question: str, words: int = 4) -> str:
    """The first words of a question, where "which X" names what is asked for."""
    return " ".join(question.split()[:words])


def constraints_of(question: str) -> list[str]:
    """Normalised constraints named in a question."""
    found = []
    for name, pattern in CONSTRAINTS:
        if re.search(pattern, question, re.IGNORECASE):
            found.append(name)
    if "not_approved" in found and "approved" in found:
        found.remove("approved")
    if "unresolved" in found and "resolved" in found:
        found.remove("resolved")
    if "no_fix" in found and "resolved" in found:
        found.remove("resolved")
    return found


def match_names(question: str, names: list[str], plural: bool = False) -> list[str]:
    """Names (roles, companies, types) that occur in a question, longest first, no overlaps."""
    found: list[str] = []
    text = question.lower()
    for name in sorted(names, key=len, reverse=True):
        suffix = r"(s|es)?" if plural else ""
        pattern = rf"(?<![a-z0-9]){re.escape(name.lower())}{suffix}(?![a-z0-9])"
        m = re.search(pattern, text)
        if m:
            found.append(name)
            text = text[: m.start()] + " " * (m.end() - m.start()) + text[m.end() :]
    return found


def doc_type_of(question: str, doc_types: list[str]) -> str | None:
    """The document type named in a question, tolerating short forms ("PRD", "vision doc",
    "tech spec"): its acronym, or its most distinctive words (or their prefixes) beside a
    word for a document."""
    exact = match_names(question, doc_types)
    if exact:
        return exact[0]
    acronyms = {"".join(w[0] for w in t.lower().split()): t for t in doc_types}
    for word in re.findall(r"\b[A-Z]{3,4}s?\b", question):
        if word.lower().rstrip("s") in acronyms:
            return acronyms[word.lower().rstrip("s")]
    lowered = question.lower()
    if not doc_types or not re.search(r"\bdoc|\breport|\bspec", lowered):
        return None
    words = [w for w in re.findall(r"[a-z]{3,}", lowered) if w not in ("doc", "docs", "document", "report", "spec", "specs")]
    tokens = {t: [w for w in t.lower().split() if w not in ("document", "report")] for t in doc_types}
    df = Counter(w for ws in tokens.values() for w in ws)
    scores = {t: sum(1 / df[w] for w in ws if any(w.startswith(q) for q in words)) for t, ws in tokens.items()}
    ranked = sorted(scores.values(), reverse=True)
    best = max(scores, key=lambda t: scores[t])
    if ranked[0] >= 1 and (len(ranked) == 1 or ranked[0] > ranked[1]):
        return best
    return None


def topic_of(question: str, remove: list[str]) -> tuple[str, list[str]]:
    """The question's subject once entity names and question scaffolding are removed."""
    text = question
    for name in sorted(remove, key=len, reverse=True):
        text = re.sub(rf"(?i)\b{re.escape(name)}('s)?\b", " ", text)
    words = re.findall(r"[A-Za-z][A-Za-z0-9/&+-]*", text)
    terms = [w.lower() for w in words if w.lower() not in SCAFFOLD]
    return " ".join(terms), terms


class QuestionAnalyzer:
    """Turns a question into an Analysis using the store's lexicon."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon

    def analyze(self, question: str) -> Analysis:
        lex = self.lexicon
        entity = lex.find_entity(question)
        names = sorted(lex.names_of.get(entity, []), key=len, reverse=True) if entity else []
        roles = match_names(question, lex.roles, plural=True)
        companies = match_names(question, lex.companies)
        people = lex.ids_in(question)
        doc_type = doc_type_of(question, lex.doc_types)
        constraints = constraints_of(question)
        aggregate = "max" if AGGREGATE.search(question) else None
        removable = [*names, *roles, *companies, *people, *([doc_type] if doc_type else [])]
        topic, terms = topic_of(question, removable)
        answer_type = answer_type_of(question)
        if answer_type == "content" and re.match(r"\s*which\b", question, re.IGNORECASE) and match_names(lead_of(question), lex.roles, plural=True):
            answer_type = "person"
        return Analysis(
            question=question,
            answer_type=answer_type,
            product=entity,
            product_names=names,
            roles=roles,
            companies=companies,
            people=people,
            doc_type=doc_type,
            constraints=constraints,
            aggregate=aggregate,
            topic=topic,
            topic_terms=terms,
        )
