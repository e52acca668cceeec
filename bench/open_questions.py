"""Open questions over HERB's entities and relations, the way employees type them.

    python3 bench/open_questions.py [--herb /work/shared/herb] [--seed 7]
                                    [--per-family 13] [--unanswerable 4]
                                    [--out bench/openqa/questions.jsonl]

Gold answers are derived mechanically from the raw export (directory CSVs, Slack JSON,
GitHub API JSON, document metadata, WebVTT notes and cues, the bookmark file); nothing
here reads Quarry code or Quarry's store. Rows use the shape of HERB's qa/dev.jsonl
(`id, product, question, answerable, type, ground_truth, citations`) plus `relation`,
so HERB's score.py scores them and bench/openqa/by_relation.py breaks them down.

Citations are the benchmark artifact ids that score.py compares against (the values of
ids.json: Slack client_msg_id, doc / meeting basenames, `github_com_<o>_<r>_pull_<n>`,
bookmark ids, employee and customer ids).

Python 3 standard library only; one pass over the corpus takes a few seconds.
"""
from __future__ import annotations

import argparse
import csv
import glob
import html
import json
import os
import random
import re
import sys
import unicodedata
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import ClassVar

# --------------------------------------------------------------------------- corpus


@dataclass
class Msg:
    cid: str
    channel: str
    user: str
    text: str
    day: str


@dataclass
class PR:
    url: str
    owner: str
    repo: str
    number: int
    title: str
    state: str
    merged: bool
    author: str
    reviews: list = field(default_factory=list)   # [(login, state)]


@dataclass
class Doc:
    file: str
    title: str
    author: str
    date: str
    type: str
    link: str
    body: str


@dataclass
class Meeting:
    file: str
    name: str
    date: str
    topic: str
    participants: list
    turns: list                 # [(speaker name, text)]
    chat: list = field(default_factory=list)   # [(time, speaker name, text)]
    chat_file: str = ""


class Corpus:
    """The raw HERB export, read without any Quarry code."""

    def __init__(self, root: str):
        c = os.path.join(root, "corpus")
        with open(os.path.join(root, "ids.json")) as f:
            self.ids = json.load(f)
        self.herb_ids = set(self.ids.values())
        d = os.path.join(c, "directory")
        with open(os.path.join(d, "employees.csv")) as f:
            self.emp = {r["employee_id"]: r for r in csv.DictReader(f)}
        with open(os.path.join(d, "customers.csv")) as f:
            self.cust = {r["customer_id"]: r for r in csv.DictReader(f)}
        self._slack(os.path.join(c, "slack"))
        self._github(os.path.join(c, "github", "repos"))
        self._docs(os.path.join(c, "docs"))
        self._meetings(os.path.join(c, "meetings"))
        with open(os.path.join(c, "links", "bookmarks.html"), encoding="utf-8") as f:
            text = f.read()
        self.bookmarks = [(html.unescape(u), html.unescape(t).strip())
                          for u, t in re.findall(r'<DT><A HREF="([^"]*)"[^>]*>([^<]*)</A>', text)]

    def _slack(self, d):
        with open(os.path.join(d, "channels.json")) as fh:
            self.channels = {ch["name"]: ch for ch in json.load(fh)}
        self.msgs: list[Msg] = []
        self.created = {}                 # channel -> (creator, original name, cid)
        self.joins = defaultdict(list)    # channel -> [(eid, cid)]
        for name in sorted(self.channels):
            for f in sorted(glob.glob(os.path.join(d, name, "*.json"))):
                with open(f, encoding="utf-8") as fh:
                    day = json.load(fh)
                for m in day:
                    msg = Msg(m.get("client_msg_id", ""), name, m.get("user", ""), m.get("text", ""),
                              os.path.basename(f)[:-5])
                    self.msgs.append(msg)
                    if msg.user != "slack_admin_bot":
                        continue
                    mm = re.match(r"@(\S+) created this channel on .*? the very beginning of the (\S+) channel\.", msg.text)
                    if mm:
                        self.created[name] = (mm.group(1), mm.group(2), msg.cid)
                    elif " joined " in msg.text:
                        self.joins[name] += [(e, msg.cid) for e in re.findall(r"@(eid_[0-9a-f]+)", msg.text)]

    def _github(self, d):
        self.prs: list[PR] = []
        for f in sorted(glob.glob(os.path.join(d, "*", "*", "pulls.json"))):
            owner, repo = f.split(os.sep)[-3:-1]
            with open(f, encoding="utf-8") as fh:
                pulls = json.load(fh)
            for p in pulls:
                pr = PR(p["html_url"], owner, repo, p["number"], p["title"], p["state"],
                        bool(p.get("merged")), p["user"]["login"])
                rf = os.path.join(os.path.dirname(f), "pulls", str(p["number"]), "reviews.json")
                if os.path.exists(rf):
                    with open(rf, encoding="utf-8") as fh:
                        pr.reviews = [(r["user"]["login"], r.get("state", "")) for r in json.load(fh)]
                self.prs.append(pr)

    def _docs(self, d):
        self.docs: list[Doc] = []
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            meta, body = {}, ""
            if f.endswith(".md"):
                with open(p, encoding="utf-8") as fh:
                    m = re.match(r"---\n(.*?)\n---\n(.*)", fh.read(), re.DOTALL)
                for line in m.group(1).splitlines():
                    k, _, v = line.partition(":")
                    meta[k.strip()] = v.strip().strip('"')
                body = m.group(2)
            elif f.endswith(".html"):
                with open(p, encoding="utf-8") as fh:
                    t = fh.read()
                meta = {k: html.unescape(v) for k, v in re.findall(r'<meta name="(\w+)" content="([^"]*)"', t)}
                meta["title"] = html.unescape(re.search(r"<title>(.*?)</title>", t, re.DOTALL).group(1))
                meta["link"] = re.search(r'<link rel="canonical" href="([^"]*)"', t).group(1)
                body = html.unescape(re.sub(r"<[^>]+>", " ", t.split("<body>", 1)[-1]))
            elif f.endswith(".docx"):
                z = zipfile.ZipFile(p)
                core = z.read("docProps/core.xml").decode("utf-8")
                def g(tag, core=core):
                    return html.unescape((re.search(rf"<{tag}[^>]*>(.*?)</{tag}>", core, re.DOTALL) or [None, ""])[1])
                meta = {"title": g("dc:title"), "author": g("dc:creator"), "type": g("dc:subject"),
                        "date": g("dcterms:created").rstrip("Z"), "link": g("dc:identifier")}
                body = html.unescape(re.sub(r"<[^>]+>", " ", z.read("word/document.xml").decode("utf-8")))
            elif f.endswith(".pdf"):
                with open(p, "rb") as fh:
                    raw = fh.read().decode("latin-1")

                def g(k, raw=raw):
                    return (re.search(rf"/{k} \((.*?)(?<!\\)\)", raw) or [None, ""])[1].replace("\\(", "(").replace("\\)", ")")
                # ReportLab document info: the document's date is in /Creator, its link in /Keywords
                meta = {"title": g("Title"), "author": g("Author"), "type": g("Subject"),
                        "date": g("Creator"), "link": g("Keywords")}
            self.docs.append(Doc("docs/" + f, meta.get("title", ""), meta.get("author", ""), meta.get("date", ""),
                                 meta.get("type", ""), meta.get("link", ""), body))

    def _meetings(self, d):
        self.meetings: list[Meeting] = []
        chats = {}
        for f in sorted(os.listdir(d)):
            if f.endswith("_chat.txt"):
                with open(os.path.join(d, f), encoding="utf-8") as fh:
                    rows = [mm.groups() for line in fh
                            if (mm := re.match(r"(\S+) ([^:]+): (.*)", line.rstrip("\n")))]
                chats[f[:-9]] = ("meetings/" + f, rows)
        for f in sorted(os.listdir(d)):
            if not f.endswith(".vtt"):
                continue
            with open(os.path.join(d, f), encoding="utf-8") as fh:
                t = fh.read()
            meta = {}
            for line in re.search(r"NOTE\n(.*?)\n\n", t, re.DOTALL).group(1).splitlines():
                k, _, v = line.partition(":")
                meta[k.strip()] = v.strip()
            m = Meeting("meetings/" + f, meta.get("Meeting", f[:-4]), meta.get("Date", ""), meta.get("Topic", ""),
                        [x.strip() for x in meta.get("Participants", "").split(",") if x.strip()],
                        [(s.strip(), x.strip()) for s, x in re.findall(r"<v ([^>]+)>(.*)", t)])
            if f[:-4] in chats:
                m.chat_file, m.chat = chats[f[:-4]]
            self.meetings.append(m)

    def herb(self, native: str) -> str:
        """The benchmark artifact id score.py compares gold citations with."""
        return self.ids[native]


# --------------------------------------------------------------------------- wording helpers

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
URL_RE = re.compile(r"https?://[^\s<>|\"')]+")


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def date_text(iso: str, rng: random.Random, year: bool | None = None) -> tuple[str, bool]:
    """A date as people write it; returns (text, whether the year is in it)."""
    y, m, d = int(iso[:4]), int(iso[5:7]), int(iso[8:10])
    forms = [
        (True, f"{iso[:10]}"), (True, f"{d:02d}/{m:02d}/{y}"), (True, f"{MONTHS[m-1]} {d}, {y}"),
        (True, f"{MONTHS[m-1][:3].lower()} {ordinal(d)} {y}"), (True, f"{d} {MONTHS[m-1]} {y}"),
        (False, f"{MONTHS[m-1]} {d}"), (False, f"the {ordinal(d)} of {MONTHS[m-1]}"),
        (False, f"{MONTHS[m-1][:3]} {ordinal(d)}"),
    ]
    if year is not None:
        forms = [f for f in forms if f[0] == year]
    has_year, text = rng.choice(forms)
    return text, has_year


def plain(s: str) -> str:
    """Straight quotes, no emoji, single spaces: what someone would paste or type."""
    s = s.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    s = "".join(ch for ch in s if not unicodedata.category(ch).startswith(("So", "Sk", "Cs", "Co", "Mn", "Cf")))
    return re.sub(r"\s+", " ", s).strip()


def norm_text(s: str) -> str:
    return re.sub(r"[^a-z0-9']+", " ", plain(s).lower()).strip()


PREFIXES = ["hey ", "quick q: ", "anyone know ", "do you know ", "hi, ", "qq - ", "sorry, ", "help: "]
SUFFIXES = [" pls", " please", " thx", " ?", " thanks", " asap", " (for a doc i'm writing)"]


def casual(q: str, rng: random.Random, protect=()) -> str:
    """Lower-case, drop the question mark, add filler -- never inside protected spans
    (urls, quoted text, titles, ids) so that gold stays checkable."""
    parts = [q]
    for p in sorted({p for p in protect if p}, key=len, reverse=True):
        out = []
        for part in parts:
            if isinstance(part, tuple):
                out.append(part)
                continue
            pieces = part.split(p)
            for i, piece in enumerate(pieces):
                if i:
                    out.append((p,))
                out.append(piece)
        parts = out
    lower = rng.random() < 0.45
    text = "".join(x[0] if isinstance(x, tuple) else (x.lower() if lower else x) for x in parts)
    if rng.random() < 0.5 and text.endswith("?"):
        text = text[:-1]
    r = rng.random()
    if r < 0.12:
        pre = rng.choice(PREFIXES)
        text = pre + (text[0].lower() + text[1:] if text[:1].isupper() and not text.startswith(("I ", "PR", "eid")) else text)
    elif r < 0.24:
        text = text.rstrip("?") + rng.choice(SUFFIXES)
    return text.strip()


KEYBOARD = dict(zip("abcdefghijklmnopqrstuvwxyz", "sqxswrfhujkkbmjowtadyvcsuz"))


def typo(s: str, rng: random.Random) -> str | None:
    words = s.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not idx:
        return None
    i = rng.choice(idx)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.choice(["swap", "drop", "double", "key"])
    if kind == "swap":
        w2 = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif kind == "drop":
        w2 = w[:j] + w[j + 1:]
    elif kind == "double":
        w2 = w[:j] + w[j] + w[j:]
    else:
        c = w[j].lower()
        w2 = w[:j] + KEYBOARD.get(c, c) + w[j + 1:]
    if w2.lower() == w.lower():
        return None
    words[i] = w2
    return " ".join(words)


# --------------------------------------------------------------------------- derived indexes

DOC_TYPES = {
    "market_research_report": ("Market Research Report",
                               ["market research report", "market research doc", "MRR", "market research", "market reserach report"]),
    "product_requirements_document": ("Product Requirements Document",
                                      ["product requirements document", "PRD", "product requirements doc", "requirements doc", "product requirments doc"]),
    "product_vision_document": ("Product Vision Document",
                                ["product vision document", "vision doc", "product vision doc", "vision document"]),
    "technical_specifications_document": ("Technical Specifications Document",
                                          ["technical specifications document", "tech spec", "technical specs", "tech specs doc", "technical specfications"]),
    "system_design_document": ("System Design Document",
                               ["system design document", "system design doc", "design doc", "sys design doc", "system desgin doc"]),
}
DOC_RE = re.compile(r"(final_|latest_|new_)?(.*?)_(" + "|".join(DOC_TYPES) + r")(_final)?$")


class World:
    def __init__(self, C: Corpus):
        self.C = C
        E = C.emp
        self.by_name = defaultdict(list)
        for eid in sorted(E):
            self.by_name[E[eid]["name"]].append(eid)
        self.reports = defaultdict(list)
        for eid in sorted(E):
            if E[eid]["manager_id"]:
                self.reports[E[eid]["manager_id"]].append(eid)
        self.cust_by_name = defaultdict(list)
        for cid in sorted(C.cust):
            self.cust_by_name[C.cust[cid]["name"]].append(cid)
        self.all_names = {e["name"].lower() for e in E.values()} | {c["name"].lower() for c in C.cust.values()}
        self.surnames = {e["name"].split()[-1].lower() for e in E.values()} | {c["name"].split()[-1].lower() for c in C.cust.values()}

        # PR titles
        self.title_count = Counter(p.title.lower() for p in C.prs)
        self.titles_lower = sorted(self.title_count)

        # one normalised text of everything people wrote, to check quotes and fakes are (not) there
        chunks = [m.text for m in C.msgs]
        for mt in C.meetings:
            chunks += [t for _, t in mt.turns] + [t for _, _, t in mt.chat]
        chunks += [d.body for d in C.docs] + [p.title for p in C.prs] + [t for _, t in C.bookmarks]
        self.blob = " | ".join(norm_text(x) for x in chunks)
        self.raw_blob = "\n".join([m.text for m in C.msgs] + [t for mt in C.meetings for _, _, t in mt.chat]
                                  + [u for u, _ in C.bookmarks] + [p.url for p in C.prs] + [d.link for d in C.docs])

        # product aliases from channel renames (develop-<who>-<codename> -> develop-<who>-<Name>)
        self.alias = defaultdict(set)
        for ch, (creator, orig, cid) in C.created.items():
            a, b = orig.split("-"), ch.split("-")
            if re.search(r"-[0-9a-f]{6}$", ch):
                b = b[:-1]
            if a[-1] == "PM":
                a, b = a[:-1], b[:-1]
            if a[-1] != b[-1]:
                self.alias[a[-1]].add(b[-1])
                self.alias[b[-1]].add(a[-1])
        # the spelling of code names: the most common cased form seen in names and texts
        cased = Counter()
        for ch, (_, orig, _) in C.created.items():
            cased.update(x for x in (ch.split("-") + orig.split("-")) if len(x) > 2)
        cased.update(p.repo for p in C.prs if p.owner == "salesforce")
        cased.update(re.sub(r"^(product_dev_)|(_planning)?_\d+$", "", m.name) for m in C.meetings)
        for d in C.docs:
            cased.update(re.findall(r"\b\w*(?:AIX|ProX|ForceX|Force|AI)\b", d.body))
        self.cased = {}
        for w, n in cased.most_common():
            self.cased.setdefault(w.lower(), w)

        self._docs()
        self._meetings()
        self._links()

    # ---- people
    def person_refs(self, eid: str, avoid=()) -> list[str]:
        E = self.C.emp
        e = E[eid]
        name = e["name"]
        same = [E[x] for x in self.by_name[name]]
        refs = []
        if len(same) == 1:
            refs += [name] * 3
        loc = e["location"]
        at_loc = "working remotely" if loc == "Remote" else rng_choice_stable([f"in {loc}", f"from the {loc} office", f"({loc})"], eid)
        combos = {
            ("role",): [f"{name} ({e['role']})", f"{name} the {e['role']}", f"{e['role']} {name}"],
            ("location",): [f"{name} {at_loc}"],
            ("org",): [f"{name} on the {e['org']} team", f"{name} from the {e['org']} org", f"{name} ({e['org']} org)"],
            ("role", "location"): [f"{name}, {e['role']} {at_loc}", f"{name} ({e['role']}, {loc})"],
            ("role", "org"): [f"{name}, the {e['role']} on the {e['org']} team", f"{name} ({e['role']}, {e['org']})"],
            ("location", "org"): [f"{name} ({e['org']}, {loc})"],
        }
        for attrs, forms in combos.items():
            if any(a in avoid for a in attrs):
                continue
            if sum(all(o[a] == e[a] for a in attrs) for o in same) == 1:
                refs += forms
        refs += [eid, f"{name} ({eid})"] + ([f"employee {eid}"] if len(refs) < 4 else [])
        return refs

    def person_ref(self, eid, rng, avoid=(), tmpl=""):
        refs = self.person_refs(eid, avoid)
        if "{p}'s" in tmpl:      # a possessive reads badly after "X, the Y in Z"
            refs = [r for r in refs if r.endswith(")") or re.fullmatch(r"[\w ]+", r)]
        return rng.choice(refs)

    # ---- docs
    def _docs(self):
        self.doc_groups = defaultdict(list)
        for d in self.C.docs:
            base = os.path.basename(d.file).rsplit(".", 1)[0]
            m = DOC_RE.match(base)
            d.version = (m.group(1) or m.group(4) or "").strip("_")
            d.code = m.group(2)
            d.dtype = m.group(3)
            self.doc_groups[(d.code, d.dtype)].append(d)
        for docs in self.doc_groups.values():
            docs.sort(key=lambda x: x.date)
            vers = {d.version for d in docs}
            years = Counter(d.date[:4] for d in docs)
            for d in docs:
                q = []
                if len(docs) == 1:
                    q = [""]
                elif d.version == "final":
                    q = ["final", "final version of the"]
                elif d.version == "" and docs[0] is d:
                    q = ["first draft of the", "original", "initial"]
                elif d.version == "latest" and docs[-1] is d and "new" not in vers:
                    q = ["latest", "most recent"]
                elif d.version == "new" and docs[-1] is d and "latest" not in vers:
                    q = ["new"]
                if years[d.date[:4]] == 1 and len(docs) > 1 and len(years) > 1:
                    q.append(f"{d.date[:4]}")
                d.quals = q
            self.doc_code_cased = {}

    def code_name(self, code):
        return self.cased.get(code, code)

    def doc_ref(self, code, dtype, qual, rng):
        kind = rng.choice(DOC_TYPES[dtype][1])
        name = self.code_name(code)
        if rng.random() < 0.3:
            name = name.lower()
        if qual in ("", None):
            forms = [f"the {name} {kind}", f"the {kind} for {name}", f"{name}'s {kind}", f"{name} {kind}"]
        elif qual.endswith(" the"):           # "first draft of the", "final version of the"
            forms = [f"the {qual} {name} {kind}", f"the {qual} {kind} for {name}"]
        elif qual.isdigit():
            forms = [f"the {qual} {name} {kind}", f"the {name} {kind} from {qual}", f"{name}'s {kind} ({qual} version)"]
        else:
            forms = [f"the {qual} {name} {kind}", f"the {qual} {kind} for {name}", f"{name}'s {qual} {kind}",
                     f"the {name} {kind} ({qual} version)"]
        return rng.choice(forms)

    # ---- meetings
    def meeting_product(self, m):
        return re.sub(r"^(product_dev_)|(_planning)?_\d+$", "", m.name)

    def group(self, product):
        g = {product}
        frontier = [product]
        while frontier:
            x = frontier.pop()
            for y in self.alias.get(x, ()):
                if y not in g:
                    g.add(y)
                    frontier.append(y)
        return g

    def _meetings(self):
        E = self.C.emp
        for m in self.C.meetings:
            m.product = self.meeting_product(m)
            names = defaultdict(list)
            for p in m.participants:
                if p in E:
                    names[E[p]["name"]].append(p)
            m.resolve = {n: v[0] for n, v in names.items() if len(v) == 1}

    # ---- links shared in Slack and meeting chats
    def _links(self):
        C = self.C
        self.shares = defaultdict(list)   # url -> [(where, who or None, cite)]
        for m in C.msgs:
            if m.user == "slack_admin_bot":
                continue
            for u in URL_RE.findall(m.text):
                u = u.rstrip(".,;:!?")
                self.shares[u].append(("#" + m.channel, m.user if m.user in C.emp else None, m.cid))
        for mt in C.meetings:
            for _, sp, t in mt.chat:
                for u in URL_RE.findall(t):
                    u = u.rstrip(".,;:!?")
                    self.shares[u].append((mt.name, mt.resolve.get(sp), C.herb(mt.chat_file)))


def rng_choice_stable(options, key):
    return options[sum(map(ord, key)) % len(options)]


# --------------------------------------------------------------------------- families

class Gen:
    """One relation family: candidates() lists gold-unambiguous entities; ask() words one."""
    relation = ""
    qtype = "person"

    def __init__(self, W: World):
        self.W, self.C = W, W.C

    def candidates(self):
        return []

    def fakes(self, rng, n):
        return []


def row(relation, qtype, product, question, gold, cites, answerable=True):
    if not answerable:
        return {"relation": relation, "product": product, "question": question, "answerable": False}
    return {"relation": relation, "product": product, "question": question, "answerable": True,
            "type": qtype, "ground_truth": gold, "citations": cites}


FIRST = ["Hannah", "Charlie", "David", "Julia", "Alice", "Emma", "Bob", "Ian", "George", "Fiona",
         "Priya", "Marcus", "Sofia", "Kenji", "Lena", "Omar", "Nadia", "Tobias", "Ines", "Raj"]
LAST = ["Okafor", "Lindqvist", "Nakamura", "Petrov", "Haddad", "Moreau", "Kowalski", "Fernandes", "Osei",
        "Iyer", "Novak", "Castillo", "Brennan", "Yamamoto", "Sorensen", "Rossi", "Dubois", "Mehta", "Kaur", "Albrecht"]


def fake_person(W, rng):
    while True:
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if name.lower() not in W.all_names and name.split()[-1].lower() not in W.surnames:
            break
    r = rng.random()
    if r < 0.15:
        while True:
            eid = f"eid_{rng.getrandbits(32):08x}"
            if eid not in W.C.emp:
                return eid
    if r < 0.3:
        return f"{name} ({rng.choice(['Software Engineer', 'QA Specialist', 'Product Manager', 'Engineering Lead'])})"
    if r < 0.4:
        return f"{name} from the {rng.choice(['Berlin', 'Austin', 'London', 'Sydney', 'Seattle'])} office"
    return name


class Manager(Gen):
    relation, qtype = "manager", "person"
    T: ClassVar[list[str]] = ["who is {p}'s manager?", "whos {p}'s manager", "who does {p} report to?", "{p} reports to who?",
                              "who's the manager of {p}", "manager for {p}?", "who is {p}'s boss", "who manages {p}?"]

    def candidates(self):
        return [e for e in sorted(self.C.emp) if self.C.emp[e]["manager_id"] in self.C.emp]

    def ask(self, e, rng):
        t = rng.choice(self.T)
        p = self.W.person_ref(e, rng, tmpl=t)
        m = self.C.emp[e]["manager_id"]
        return row(self.relation, self.qtype, "", casual(t.format(p=p), rng), [m], [e, m])

    def fake(self, rng):
        p = fake_person(self.W, rng)
        return row(self.relation, self.qtype, "", casual(rng.choice(self.T).format(p=p), rng), None, None, False)


class Reports(Manager):
    relation = "direct_reports"
    T: ClassVar[list[str]] = ["who reports to {p}?", "who are {p}'s direct reports", "list {p}'s reports", "who's on {p}'s team (direct reports only)",
                              "which people does {p} manage?", "directs of {p}?", "who rolls up directly to {p}"]

    def candidates(self):
        return [e for e in sorted(self.C.emp) if 1 <= len(self.W.reports.get(e, [])) <= 8]

    def ask(self, e, rng):
        t = rng.choice(self.T)
        p = self.W.person_ref(e, rng, tmpl=t)
        r = self.W.reports[e]
        return row(self.relation, self.qtype, "", casual(t.format(p=p), rng), list(r), [e] + list(r))


class Role(Manager):
    relation, qtype = "role", "content"
    T: ClassVar[list[str]] = ["what is {p}'s role?", "whats {p}'s job title", "what does {p} do here?", "{p} role?",
                              "what's the title of {p}", "what position does {p} have", "what's {p}'s role on the team"]

    def candidates(self):
        return sorted(self.C.emp)

    def ask(self, e, rng):
        t = rng.choice(self.T)
        p = self.W.person_ref(e, rng, avoid=("role",), tmpl=t)
        return row(self.relation, self.qtype, "", casual(t.format(p=p), rng), self.C.emp[e]["role"], [e])


class Location(Manager):
    relation, qtype = "location", "content"
    T: ClassVar[list[str]] = ["where is {p} based?", "whats {p}'s location", "which office is {p} in?", "where does {p} work from",
                              "{p} location?", "what city is {p} in", "is {p} remote or in an office? where"]

    def candidates(self):
        return sorted(self.C.emp)

    def ask(self, e, rng):
        t = rng.choice(self.T)
        p = self.W.person_ref(e, rng, avoid=("location",), tmpl=t)
        return row(self.relation, self.qtype, "", casual(t.format(p=p), rng), self.C.emp[e]["location"], [e])


class CustomerCompany(Gen):
    relation, qtype = "customer_company", "company"
    T: ClassVar[list[str]] = ["which company is customer {c} from?", "what company does our customer {c} work for", "{c} is a customer at which company",
                              "customer {c} - what company?", "who does the customer {c} work for", "company of customer {c}?",
                              "{c} (customer contact) works where?"]

    def candidates(self):
        W = self.W
        return [c for c in sorted(self.C.cust) if len(W.cust_by_name[self.C.cust[c]["name"]]) == 1
                and self.C.cust[c]["name"] not in W.by_name]

    def ask(self, c, rng):
        cu = self.C.cust[c]
        ref = cu["name"] if rng.random() < 0.7 else f"{cu['name']}, the {cu['role']},"
        q = rng.choice(self.T).format(c=ref).replace(",, ", ", ").replace(", -", " -").replace(",?", "?")
        return row(self.relation, self.qtype, "", casual(q, rng, [ref]), [cu["company"]], [c])

    def fake(self, rng):
        W = self.W
        while True:
            name = f"{rng.choice(['Isaac', 'Helen', 'Tom', 'Olivia', 'Paul', 'Steve', 'Noah', 'Quinn', 'Rachel', 'Grace'])} {rng.choice(LAST)}"
            if name.lower() not in W.all_names:
                break
        return row(self.relation, self.qtype, "", casual(rng.choice(self.T).format(c=name), rng, [name]), None, None, False)


# ---- pull requests by title

BOUNDARY = {"in", "for", "of", "on", "to", "with", "from", "by", "and", "via", "during", "when", "the", "a", "an", "at", "into", "across"}


class PRByTitle(Gen):
    relation = "pr_author"
    qtype = "person"
    only_salesforce = True
    T: ClassVar[list[str]] = ["who wrote {pr}?", "who opened {pr}", "author of {pr}?", "whose PR is {t}?", "who raised {pr}",
                              "who submitted {pr}?", "who made {pr}"]

    def ok(self, p):
        return p.author in self.C.emp

    def balance(self, c):
        return None

    def candidates(self):
        return [p for p in self.C.prs if (p.owner == "salesforce" or not self.only_salesforce)
                and self.W.title_count[p.title.lower()] == 1 and self.ok(p)]

    def title_variant(self, p, rng):
        W = self.W
        t = p.title
        kinds = ["exact", "exact", "lower", "partial", "typo"]
        kind = rng.choice(kinds)
        if kind == "lower":
            return t.lower(), kind
        if kind == "partial":
            words = t.split()
            spans = []
            for i in range(len(words)):
                for j in range(i + 3, len(words) + 1):
                    s = " ".join(words[i:j])
                    # a prefix of the title, or a suffix that starts after a preposition: what people remember
                    if not (i == 0 or (j == len(words) and words[i - 1].lower() in BOUNDARY and words[i].lower() not in BOUNDARY)):
                        continue
                    if words[j - 1].lower().strip(":") in BOUNDARY:
                        continue
                    if j - i < len(words) and len(s) >= 15 and s[0].isalpha() \
                            and sum(s.lower() in x for x in W.titles_lower) == 1:
                        spans.append(s)
            if spans:
                s = rng.choice(spans)
                return (s.lower() if rng.random() < 0.5 else s), kind
            kind = "typo"
        if kind == "typo":
            for _ in range(5):
                s = typo(t, rng)
                if s and s.lower() not in W.title_count:
                    return s, kind
        return t, "exact"

    def pr_phrase(self, t, kind, p, rng):
        if kind == "partial":
            forms = [f'the PR with "{t}" in the title', f"the {t} PR", f'that pull request about "{t}"', f"the pr about {t}"]
        else:
            forms = [f'the PR "{t}"', f'PR "{t}"', f'"{t}"', f'the pull request "{t}"', f"the {t} PR", f"PR {t}",
                     f"the pull request titled {t}", f"'{t}'"]
            if p is not None and p.owner == "salesforce":
                forms.append(f'the {p.repo} PR "{t}"')
        return rng.choice(forms)

    def gold(self, p):
        return [p.author], [self.C.herb(p.url)]

    def ask(self, p, rng):
        t, kind = self.title_variant(p, rng)
        pr = self.pr_phrase(t, kind, p, rng)
        tmpl = rng.choice(self.T)
        q = tmpl.format(pr=pr, t=(f'"{t}"' if rng.random() < 0.5 else t))
        gold, cites = self.gold(p)
        product = p.repo if p.owner == "salesforce" and p.repo.lower() in q.lower() else ""
        r = row(self.relation, self.qtype, product, casual(q, rng, [t]), gold, cites)
        r["title_variant"] = kind
        return r

    FAKE_A: ClassVar[list[str]] = [""]
    FAKE_B: ClassVar[list[str]] = ["Add Retry Backoff to", "Fix Pagination in", "Add a Caching Layer to", "Fix Timezone Handling in",
                                   "Add Rate Limiting to", "Add Dark Mode to", "Support Bulk Export from", "Add Audit Logging to",
                                   "Fix Locale Fallback in", "Reduce Memory Usage of", "Refactor", "Migrate", "Harden Input Validation in"]
    FAKE_C: ClassVar[list[str]] = ["Webhook Dispatcher", "Billing Reconciliation Job", "Holiday Calendar Sync", "Invoice PDF Renderer",
                                   "Kiosk Check-in Flow", "Parking Permit Module", "Warehouse Barcode Scanner", "Loyalty Points Ledger",
                                   "Fleet Telematics Importer", "Cafeteria Menu Widget"]

    def fake_title(self, rng):
        W = self.W
        while True:
            t = f"{rng.choice(self.FAKE_B)} {rng.choice(self.FAKE_C)}"
            toks = set(t.lower().split())
            if t.lower() in W.title_count:
                continue
            if any(len(toks & set(x.split())) / len(toks | set(x.split())) >= 0.5 for x in W.titles_lower):
                continue
            if norm_text(t) in W.blob:
                continue
            return t

    def fake(self, rng):
        t = self.fake_title(rng)
        pr = self.pr_phrase(t, "exact", None, rng)
        q = rng.choice(self.T).format(pr=pr, t=f'"{t}"')
        return row(self.relation, self.qtype, "", casual(q, rng, [t]), None, None, False)


class PRReviewers(PRByTitle):
    relation = "pr_reviewers"
    T: ClassVar[list[str]] = ["who reviewed {pr}?", "reviewers on {pr}?", "who left reviews on {pr}", "who looked at {pr}",
                              "which people reviewed {pr}", "who was on the review for {pr}"]

    def ok(self, p):
        return p.reviews and all(l in self.C.emp for l, _ in p.reviews)

    def gold(self, p):
        return sorted({l for l, _ in p.reviews}), [self.C.herb(p.url)]


class PRApprovers(PRByTitle):
    relation = "pr_approvers"
    T: ClassVar[list[str]] = ["who approved {pr}?", "who gave approval on {pr}", "which reviewers approved {pr}", "who signed off on {pr}",
                              "approvals on {pr}?", "who hit approve on {pr}"]

    def ok(self, p):
        return any(s == "APPROVED" for _, s in p.reviews) and all(l in self.C.emp for l, _ in p.reviews)

    def gold(self, p):
        return sorted({l for l, s in p.reviews if s == "APPROVED"}), [self.C.herb(p.url)]


class PRLink(PRByTitle):
    relation, qtype = "pr_link", "pr"
    only_salesforce = False
    T: ClassVar[list[str]] = ["link to {pr}?", "whats the url of {pr}", "can u send me the link for {pr}", "github link for {pr}",
                              "where's {pr} on github", "url for {pr}?"]

    def ok(self, p):
        return True

    def gold(self, p):
        return [p.url], [self.C.herb(p.url)]


class PRState(PRByTitle):
    relation, qtype = "pr_state", "content"
    only_salesforce = False
    T: ClassVar[list[str]] = ["was {pr} merged?", "status of {pr}?", "did {pr} get merged", "is {pr} still open?", "what happened to {pr}",
                              "{pr} - merged or not?", "has {pr} been merged yet"]

    def ok(self, p):
        return True

    def balance(self, p):
        return p.merged

    def gold(self, p):
        s = "merged" if p.merged else ("closed without being merged" if p.state == "closed" else "open, not merged")
        return s, [self.C.herb(p.url)]


# ---- person -> PRs they reviewed / approved in a repo

class ReviewedInRepo(Gen):
    relation, qtype = "prs_reviewed_in_repo", "pr"
    states = None
    T: ClassVar[list[str]] = ["which PRs did {p} review in {repo}?", "PRs {p} reviewed in the {repo} repo", "what did {p} review in {repo}",
                              "list pull requests in {repo} that {p} reviewed", "{p}'s reviews in {repo}?", "pull requests in {repo} reviewed by {p}"]

    def index(self):
        idx = defaultdict(list)
        for p in self.C.prs:
            if p.owner != "salesforce":
                continue
            for l, s in p.reviews:
                if l in self.C.emp and (self.states is None or s in self.states):
                    idx[(l, p.repo)].append(p)
        return idx

    def candidates(self):
        return [k + (tuple(v),) for k, v in sorted(self.index().items()) if 1 <= len({p.url for p in v}) <= 5]

    def repo_text(self, repo, rng):
        return rng.choice([repo, repo, f"salesforce/{repo}", repo.lower()])

    def ask(self, c, rng):
        eid, repo, prs = c
        t = rng.choice(self.T)
        p = self.W.person_ref(eid, rng, tmpl=t)
        rt = self.repo_text(repo, rng)
        q = t.format(p=p, repo=rt).replace("the the ", "the ").replace("the salesforce/", "salesforce/")
        urls = sorted({x.url for x in prs})
        return row(self.relation, self.qtype, repo, casual(q, rng, [rt]), urls, [self.C.herb(u) for u in urls])

    def fake(self, rng):
        repos = sorted({p.repo for p in self.C.prs if p.owner == "salesforce"})
        if rng.random() < 0.5:
            p, rt = fake_person(self.W, rng), rng.choice(repos)
        else:
            eid = rng.choice(sorted({k[0] for k in self.index()}))
            p = self.W.person_ref(eid, rng)
            rt = rng.choice(["QuantumLedger", "salesforce/HarborForce", "NimbusAIX", "OrbitForce"])
        q = rng.choice(self.T).format(p=p, repo=rt).replace("the the ", "the ")
        return row(self.relation, self.qtype, "", casual(q, rng, [rt]), None, None, False)


class ApprovedInRepo(ReviewedInRepo):
    relation = "prs_approved_in_repo"
    states: ClassVar[set[str]] = {"APPROVED"}
    T: ClassVar[list[str]] = ["which {repo} PRs did {p} approve?", "what has {p} approved in {repo}", "PRs approved by {p} in {repo}",
                              "{p} approvals in {repo} pls", "pull requests {p} signed off on in {repo}", "which PRs in {repo} got an approve from {p}"]


# ---- documents

FAKE_CODES = ["zenAIX", "quillAIX", "nimbAIX", "lumaProX", "VortexForce", "brioAIX", "kestrelAIX", "PolarisForce",
              "MeridianForce", "tundraAIX", "HarborForce", "sprigAIX"]


class DocAuthor(Gen):
    relation, qtype = "doc_author", "person"
    T: ClassVar[list[str]] = ["who wrote {d}?", "author of {d}?", "who put together {d}", "whose doc is {d}", "who's the author of {d}",
                              "who drafted {d}?", "who owns {d}"]

    def candidates(self):
        out = []
        for key, docs in sorted(self.W.doc_groups.items()):
            if len({d.author for d in docs}) == 1 and docs[0].author in self.C.emp:
                out.append((key, "", docs))
            else:
                for d in docs:
                    if any(q.isdigit() for q in d.quals) and d.author in self.C.emp:
                        out.append((key, next(q for q in d.quals if q.isdigit()), [d]))
        return out

    def ask(self, c, rng):
        (code, dtype), qual, docs = c
        dr = self.W.doc_ref(code, dtype, qual, rng)
        q = rng.choice(self.T).format(d=dr)
        return row(self.relation, self.qtype, self.W.code_name(code), casual(q, rng, [dr]), [docs[0].author],
                   [self.C.herb(d.file) for d in docs])

    def fake(self, rng):
        code = rng.choice(FAKE_CODES)
        assert code.lower() not in self.W.cased
        dr = self.W.doc_ref(code.lower(), rng.choice(sorted(DOC_TYPES)), rng.choice(["", "final"]), rng)
        dr = dr.replace(code.lower(), code) if rng.random() < 0.6 else dr
        return row(self.relation, self.qtype, "", casual(rng.choice(self.T).format(d=dr), rng, [dr]), None, None, False)


class DocLink(DocAuthor):
    relation, qtype = "doc_link", "url"
    T: ClassVar[list[str]] = ["link to {d}?", "where can i find {d}", "url for {d} pls", "send me the link to {d}", "whats the link for {d}",
                              "do we have a link to {d}?"]

    def candidates(self):
        return [((d.code, d.dtype), q, [d]) for key, docs in sorted(self.W.doc_groups.items()) for d in docs for q in d.quals]

    def ask(self, c, rng):
        (code, dtype), qual, docs = c
        d = docs[0]
        dr = self.W.doc_ref(code, dtype, qual, rng)
        return row(self.relation, self.qtype, self.W.code_name(code), casual(rng.choice(self.T).format(d=dr), rng, [dr]),
                   [d.link], [self.C.herb(d.file)])


class DocDate(DocLink):
    relation, qtype = "doc_date", "content"
    T: ClassVar[list[str]] = ["when was {d} written?", "date of {d}?", "what's the date on {d}", "when is {d} dated",
                              "what date was {d} published", "when did {d} come out?"]

    def ask(self, c, rng):
        r = DocLink.ask(self, c, rng)
        d = c[2][0]
        r["type"], r["ground_truth"] = "content", d.date[:10]
        return r


# ---- bookmarks

STOP = {"a", "an", "the", "of", "and", "or", "to", "in", "for", "on", "with", "by", "is", "are", "was", "were", "be", "as", "at", "from", "that", "this", "these", "those", "it", "its", "how", "into", "using", "use", "used", "via", "about", "over", "exploring", "examining", "highlighting", "their", "your", "our", "his", "her", "which", "what", "who", "when", "where", "why", "can", "will", "more", "most", "other", "such", "detailed", "blog", "post", "article", "news", "official", "website", "site", "page", "demo", "video", "showing", "works", "work", "overview", "guide", "repo", "repository", "library", "github", "tool", "tools", "open", "source", "open-source", "comprehensive", "discussing", "discusses", "explaining", "explains", "including", "provides", "providing", "offering", "offers", "resource", "resources", "step-by-step", "tutorial", "insights", "insight", "look", "new"}


GENERIC = {'ai', "ai's", 'ais', 'data', 'role', 'impact', 'future', 'trends', 'trend', 'benefits', 'benefit', 'importance', 'significance', 'application', 'applications', 'exploring', 'examining', 'highlighting', 'covering', 'detailing', 'showcasing', 'using', 'various', 'latest', 'recent', 'current', 'key', 'ways', 'better', 'improve', 'improving', 'enhance', 'enhancing', 'potential', 'effective', 'advanced', 'modern'}


class BookmarkURL(Gen):
    relation, qtype = "bookmark_url", "url"
    T: ClassVar[list[str]] = ["link to the {kind} about {kw}?", "whats the url of that {kind} on {kw}", "where's the {kind} on {kw}",
                              "can someone share the link for the {kind} about {kw}", "bookmark for the {kind} on {kw}?",
                              "do we have a link to the {kind} on {kw}", "url of the {site}{kind} about {kw} pls", "that {site}{kind} on {kw} - link?"]
    T_DEMO: ClassVar[list[str]] = ["link to the {kw} demo?", "where's the demo for {kw}", "do we have a bookmark for the {kw} demo",
                                   "url of the {kw} demo pls", "can someone send the demo link for {kw}"]
    LEAD = re.compile(r"^(?:(?:a|an|the)\s+)?(?:(?:detailed|comprehensive|brief|recent|step-by-step|in-depth|insightful|"
                      r"official|useful|short)\s+)*(?:techcrunch\s+|forbes\s+|wired\s+|medium\s+|harvard business review\s+)?"
                      r"(?:news article|blog post|article|tutorial|guide|demo video|demo|documentation|website|site|"
                      r"github repo(?:sitory)?|repo(?:sitory)?)(?:\s+and documentation)?\s*"
                      r"(?:on|about|discussing|that discusses|explaining|showing|highlighting|covering|detailing|"
                      r"exploring|for|of|from|by|which|that)?\s+", re.IGNORECASE)

    def candidates(self):
        C = self.C
        hosts = Counter(re.sub(r"^https?://(www\.)?", "", u).rstrip("/") for u, _ in C.bookmarks)
        toks = [set(re.findall(r"[a-z0-9]+", (t + " " + u).lower())) for u, t in C.bookmarks]
        out = []
        for i, (u, t) in enumerate(C.bookmarks):
            if hosts[re.sub(r"^https?://(www\.)?", "", u).rstrip("/")] > 1:
                continue
            topic = self.LEAD.sub("", t.rstrip("."), count=1)
            words = topic.replace(",", " ,").split()
            spans = []
            for x in range(len(words)):
                for y in range(x + 2, min(len(words), x + 7) + 1):
                    span = words[x:y]
                    if "," in span or span[0].lower() in STOP or span[-1].lower() in STOP:
                        continue
                    # phrase-like: starts at the topic's start or after a function word, ends at its end or before one
                    if x > 0 and words[x - 1].lower() not in BOUNDARY | {",", "and", "or", "how", "what", "why"}:
                        continue
                    if y < len(words) and words[y].lower() not in BOUNDARY | {",", "and", "or", "using", "that", "which", "works"}:
                        continue
                    content = [w.lower().strip(".()'") for w in span if w.lower() not in STOP and len(w) > 2]
                    content = [re.sub(r"[^a-z0-9]", "", w) for w in content]
                    content = [w for w in content if w]
                    if len([w for w in content if w not in GENERIC and len(w) > 3]) < 2:
                        continue
                    clash = any(k != i and all(any(z == w or (len(w) > 5 and z.startswith(w[:6])) for z in ws) for w in content)
                                for k, ws in enumerate(toks))
                    if not clash:
                        spans.append(" ".join(span))
            if spans:
                m = min(len(x.split()) for x in spans)
                out.append((i, u, t, [x for x in spans if len(x.split()) <= m + 2]))
        return out

    def kind(self, t):
        m = re.search(r"(news article|blog post|article|demo|tutorial|guide|documentation|website|site|repo)", t, re.IGNORECASE)
        k = m.group(1).lower() if m else "page"
        return {"site": "website", "repo": "github repo"}.get(k, k)

    def ask(self, c, rng):
        _i, u, t, spans = c
        kw = rng.choice(spans)
        if rng.random() < 0.4:
            kw = kw.lower()
        if rng.random() < 0.25:     # search-box style: content words only
            kw = " ".join(w for w in kw.split() if w.lower() not in STOP) or kw
        kind = self.kind(t)
        host = re.sub(r"^https?://(www\.)?", "", u).split("/")[0].split(".")
        site = host[-2] if len(host) >= 2 and host[-2] not in ("github", "slack", "co") else ""
        if kind == "demo" and "video" not in t.lower():
            kw = re.sub(r"^how\s+|\s+works$", "", kw, flags=re.IGNORECASE)
            q = rng.choice(self.T_DEMO).format(kw=kw)
        else:
            q = rng.choice(self.T).format(kind=kind, kw=kw, site=(site + " " if site and rng.random() < 0.5 else ""))
        return row(self.relation, self.qtype, "", casual(q, rng, [kw]), [u], [self.C.herb(u)])

    FAKE_TOPICS: ClassVar[list[str]] = ["sourdough starters", "marathon taper weeks", "vintage synthesizer repair", "urban beekeeping",
                                        "bonsai pruning", "chess endgame drills", "kayak rolling technique", "espresso grinder burrs",
                                        "orchid repotting", "medieval siege engines"]

    def fake(self, rng):
        for _ in range(20):
            kw = rng.choice(self.FAKE_TOPICS)
            if all(w not in self.W.blob for w in kw.split()[:1]):
                break
        q = rng.choice(self.T).format(kind=rng.choice(["blog post", "article", "guide"]), kw=kw, site="")
        return row(self.relation, self.qtype, "", casual(q, rng, [kw]), None, None, False)


# ---- quotes

def sentences(text):
    for s in re.split(r"(?<=[.!?])\s+", plain(text)):
        s = s.strip()
        n = len(s.split())
        if 8 <= n <= 20 and not re.search(r"https?://|@|eid_|\d{4}-\d\d", s) and s[0].isalpha():
            yield s


def quote_variant(s, rng):
    r = rng.random()
    if r < 0.55:
        return s
    if r < 0.8:
        return re.sub(r"[.!?]+$", "", s).lower()
    words = s.split()
    return ("..." if rng.random() < 0.5 else "") + " ".join(words[1:]) if len(words) > 9 else s


class QuoteSpeaker(Gen):
    relation, qtype = "quote_speaker", "person"
    T_SLACK: ClassVar[list[str]] = ['who said "{q}"?', 'who wrote "{q}" in slack', "who posted this: {q}", 'someone said "{q}" - who was it?',
                                    'whose message is "{q}"', 'who mentioned "{q}"']
    T_MEET: ClassVar[list[str]] = ['who said "{q}" in the meeting?', 'who in the call said "{q}"', 'which person said "{q}" during the meeting',
                                   'who said "{q}"?', 'in a meeting someone said "{q}" - who?']

    def candidates(self):
        C = self.C
        out = []
        for m in C.msgs:
            if m.user in C.emp:
                for s in sentences(m.text):
                    out.append(("slack", s, m.user, m.cid, "#" + m.channel, m))
        for mt in C.meetings:
            for sp, t in mt.turns:
                if sp in mt.resolve:
                    for s in sentences(t):
                        out.append(("meeting", s, mt.resolve[sp], C.herb(mt.file), mt.name, mt))
        return out

    def unique(self, s):
        return self.W.blob.count(norm_text(s)) == 1

    def ask(self, c, rng):
        src, s, who, cite, _where, _obj = c
        if not self.unique(s):
            return None
        # a speaker name said twice in one meeting by different people would already be unresolved
        qv = quote_variant(s, rng)
        if not self.unique(qv.strip(".")):
            qv = s
        q = rng.choice(self.T_SLACK if src == "slack" else self.T_MEET).format(q=qv)
        r = row(self.relation, self.qtype, "", casual(q, rng, [qv]), [who], [cite])
        r["source"] = src
        return r

    def product_of(self, src, obj):
        if src == "slack":
            return obj.channel.split("-")[-1] if not re.search(r"-[0-9a-f]{6}$", obj.channel) else obj.channel.split("-")[-2]
        return obj.product

    FAKE_A: ClassVar[list[str]] = ["honestly i think we should", "can we please", "i'd rather we", "let's not forget to", "i still think we need to"]
    FAKE_B: ClassVar[list[str]] = ["move the invoice reconciliation rollout", "pause the cafeteria kiosk migration", "rename the loyalty ledger service",
                                   "freeze the parking permit integration", "rewrite the holiday calendar sync"]
    FAKE_C: ClassVar[list[str]] = ["until legal signs off on the vendor contract", "before the board offsite in lisbon",
                                   "since the warehouse scanners keep timing out", "after the fleet telematics pilot wraps up",
                                   "because the auditors flagged it last quarter"]

    def fake_quote(self, rng):
        while True:
            s = f"{rng.choice(self.FAKE_A)} {rng.choice(self.FAKE_B)} {rng.choice(self.FAKE_C)}"
            if norm_text(s) not in self.W.blob:
                return s[0].upper() + s[1:] + "."

    def fake(self, rng):
        s = self.fake_quote(rng)
        q = rng.choice(self.T_SLACK + self.T_MEET).format(q=s)
        return row(self.relation, self.qtype, "", casual(q, rng, [s]), None, None, False)


class QuoteWhere(QuoteSpeaker):
    relation, qtype = "quote_where", "content"
    T_SLACK: ClassVar[list[str]] = ['which channel was "{q}" posted in?', 'where did someone say "{q}"', 'in what channel is the message "{q}"',
                                    '"{q}" - which slack channel was that?', 'what channel had "{q}"']
    T_MEET: ClassVar[list[str]] = ['which meeting was "{q}" said in?', 'in which meeting did someone say "{q}"', '"{q}" - what meeting was that from',
                                   'where was "{q}" said?', 'which call had someone saying "{q}"']

    def ask(self, c, rng):
        r = QuoteSpeaker.ask(self, c, rng)
        if r:
            r["type"], r["ground_truth"] = "content", c[4]
        return r


# ---- meetings

MEETING_TOPIC_WORDS = {
    "product-planning": ["product planning", "planning", "product dev", "dev planning"],
    "Market Research Report": ["market research report review", "market research", "MRR review"],
    "Product Vision Document": ["product vision review", "vision doc review", "product vision"],
    "Product Requirements Document": ["PRD review", "product requirements review", "requirements"],
    "Technical Specifications Document": ["tech spec review", "technical specs review", "tech spec"],
    "System Design Document": ["system design review", "design doc review", "system design"],
}


class MeetingAttendees(Gen):
    relation, qtype = "meeting_attendees", "person"
    T: ClassVar[list[str]] = ["who attended the {prod} {topic} meeting on {date}?", "who was in the {prod} {topic} meeting {date}",
                              "attendees of the {date} {prod} meeting?", "who joined the {prod} call on {date}",
                              "participants in the {prod} {topic} meeting on {date}", "who was at the {prod} {topic} sync {date}",
                              "list everyone in the {prod} meeting from {date}"]

    def same(self, m, fn):
        g = self.W.group(m.product)
        return [x for x in self.C.meetings if x.product in g and fn(x)]

    def candidates(self):
        return [m for m in self.C.meetings if 1 <= len(m.participants) <= 25 and all(p in self.C.emp for p in m.participants)]

    def ask(self, m, rng):
        dt, has_year = date_text(m.date, rng)
        key = (lambda x: x.date[:10] == m.date[:10]) if has_year else (lambda x: x.date[5:10] == m.date[5:10])
        if len(self.same(m, key)) != 1:
            dt, has_year = date_text(m.date, rng, year=True)
            if len(self.same(m, lambda x: x.date[:10] == m.date[:10])) != 1:
                return None
        q = rng.choice(self.T).format(prod=self.prod_text(m.product, rng), topic=rng.choice(MEETING_TOPIC_WORDS[m.topic]), date=dt)
        q = q.replace("on on ", "on ").replace("from on ", "from ").replace("meeting on the", "meeting on the")
        cites = [self.C.herb(m.file)]
        return row(self.relation, self.qtype, m.product, casual(q, rng, [dt]), list(m.participants), cites)

    def prod_text(self, p, rng):
        return p if rng.random() < 0.7 else p.lower()

    def fake(self, rng):
        ms = [m for m in self.C.meetings]
        for _ in range(100):
            m = rng.choice(ms)
            g = self.W.group(m.product)
            days = sorted({x.date[:10] for x in ms if x.product in g})
            import datetime as _dt
            lo, hi = _dt.date.fromisoformat(days[0]), _dt.date.fromisoformat(days[-1])
            d = lo + _dt.timedelta(days=rng.randint(0, max(1, (hi - lo).days)))
            near = {(d + _dt.timedelta(days=k)).isoformat() for k in (-1, 0, 1)}
            if near & {x.date[:10] for x in ms if x.product in g}:
                continue
            dt, _ = date_text(d.isoformat(), rng, year=True)
            q = rng.choice(self.T).format(prod=self.prod_text(m.product, rng), topic=rng.choice(MEETING_TOPIC_WORDS[m.topic]), date=dt)
            return row(self.relation, self.qtype, m.product, casual(q, rng, [dt]), None, None, False)


class MeetingDate(MeetingAttendees):
    relation, qtype = "meeting_date", "content"
    T_PLAN: ClassVar[list[str]] = ["when was the {prod} {topic} meeting?", "when did the {prod} team meet about the {doc}?",
                                   "what day was the {doc} review for {prod}", "date of the {prod} {topic} meeting?",
                                   "when did we have the {prod} {topic} call"]
    T_DEV: ClassVar[list[str]] = ["when was {name}?", "date of the {name} meeting", "when did {name} happen", "what day was the {name} call?",
                                  "when was the meeting {name}"]

    def candidates(self):
        return list(self.C.meetings)

    def ask(self, m, rng):
        if m.topic == "product-planning":
            name = m.name if rng.random() < 0.6 else m.name.replace("_", " ")
            q = rng.choice(self.T_DEV).format(name=name)
            prot = [name]
        else:
            g = self.W.group(m.product)
            if len([x for x in self.C.meetings if x.product in g and x.topic == m.topic]) != 1:
                return None
            doc = rng.choice(DOC_TYPES[next(k for k, v in DOC_TYPES.items() if v[0] == m.topic)][1])
            q = rng.choice(self.T_PLAN).format(prod=self.prod_text(m.product, rng), topic=rng.choice(MEETING_TOPIC_WORDS[m.topic]), doc=doc)
            prot = []
        return row(self.relation, self.qtype, m.product, casual(q, rng, prot), m.date[:10], [self.C.herb(m.file)])

    def fake(self, rng):
        code = rng.choice(FAKE_CODES)
        if rng.random() < 0.5:
            name = f"product_dev_{code}_{rng.randint(1, 9)}"
            q = rng.choice(self.T_DEV).format(name=name)
        else:
            name = code
            q = rng.choice(self.T_PLAN).format(prod=code, topic=rng.choice(MEETING_TOPIC_WORDS["Market Research Report"]), doc="market research report")
        return row(self.relation, self.qtype, "", casual(q, rng, [name]), None, None, False)


# ---- Slack channels and shared links

def channel_base(name):
    return re.sub(r"-[0-9a-f]{6}$", "", name)


class ChannelCreator(Gen):
    relation, qtype = "channel_creator", "person"
    T: ClassVar[list[str]] = ["who created #{ch}?", "who made the {ch} channel", "who started {ch} in slack", "creator of #{ch}?",
                              "who set up the {ch} channel?", "who opened the slack channel {ch}"]

    def candidates(self):
        C = self.C
        bases = Counter(channel_base(n) for n in C.channels)
        origs = Counter(o for _, o, _ in C.created.values())
        out = []
        for n in sorted(C.channels):
            if n not in C.created or bases[channel_base(n)] > 1 or C.created[n][0] not in C.emp:
                continue
            out.append((n, C.created[n]))
        self.origs = origs
        self.names = set(C.channels)
        return out

    def ch_text(self, n, rng):
        orig = self.C.created[n][1]
        if orig != n and self.origs[orig] == 1 and orig not in self.names and rng.random() < 0.3:
            return rng.choice([orig, f"{orig} (now {n})"])
        return n if rng.random() < 0.75 else n.lower()

    def ask(self, c, rng):
        n, (creator, _orig, cid) = c
        ch = self.ch_text(n, rng)
        q = rng.choice(self.T).format(ch=ch)
        return row(self.relation, self.qtype, channel_product(n), casual(q, rng), [creator], [cid])

    def fake_channel(self, rng):
        C = self.C
        while True:
            r = rng.random()
            if r < 0.5:
                n = f"planning-{rng.choice(FAKE_CODES)}"
            else:
                n = f"develop-{rng.choice(FIRST).lower()}{rng.choice(LAST).lower()}-{rng.choice(sorted({channel_product(x) for x in C.channels}))}"
            if n.lower() not in {x.lower() for x in C.channels} and n.lower() not in {o.lower() for _, o, _ in C.created.values()}:
                return n

    def fake(self, rng):
        n = self.fake_channel(rng)
        return row(self.relation, self.qtype, "", casual(rng.choice(self.T).format(ch=n), rng, [n]), None, None, False)


def channel_product(n):
    parts = channel_base(n).split("-")
    return parts[-2] if parts[-1] == "PM" else parts[-1]


class ChannelMembers(ChannelCreator):
    relation = "channel_members"
    T: ClassVar[list[str]] = ["who is in #{ch}?", "members of the {ch} channel?", "who's in {ch} on slack", "list the people in #{ch}",
                              "who belongs to the {ch} channel", "which people are members of {ch}?"]

    def candidates(self):
        C = self.C
        ChannelCreator.candidates(self)
        bases = Counter(channel_base(n) for n in C.channels)
        out = []
        for n in sorted(C.channels):
            mem = set(C.channels[n]["members"]) - {"slack_admin_bot"}
            joined = {e for e, _ in C.joins.get(n, [])}
            if bases[channel_base(n)] > 1 or n not in C.created:
                continue
            # members in channels.json and the join messages agree, creator included: no doubt who is in it
            if mem == joined and C.created[n][0] in mem and 2 <= len(mem) <= 15 and mem <= set(C.emp):
                out.append((n, sorted(mem)))
        return out

    def ask(self, c, rng):
        n, mem = c
        ch = self.ch_text(n, rng)
        cites = sorted({cid for _, cid in self.C.joins[n]} | {self.C.created[n][2]})
        return row(self.relation, self.qtype, channel_product(n), casual(rng.choice(self.T).format(ch=ch), rng), mem, cites)


class LinkWhere(Gen):
    relation, qtype = "link_where", "content"
    T: ClassVar[list[str]] = ["where was {u} shared?", "which channel had the link {u}", "in what channel did someone post {u}",
                              "{u} - which channel or meeting was that posted in?", "where did {u} get shared", "where was this link posted: {u}"]

    def candidates(self):
        out = []
        for u, occ in sorted(self.W.shares.items()):
            wheres = {w for w, _, _ in occ}
            if len(wheres) == 1 and len(occ) <= 3:
                out.append((u, occ))
        return out

    def ask(self, c, rng):
        u, occ = c
        q = rng.choice(self.T).format(u=u)
        where = occ[0][0]
        return row(self.relation, self.qtype, "", casual(q, rng, [u]), where, sorted({x[2] for x in occ}))

    def fake_url(self, rng):
        while True:
            r = rng.random()
            if r < 0.35:
                u = f"https://sf-internal.slack.com/archives/docs/{rng.choice(FAKE_CODES).lower()}_{rng.choice(sorted(DOC_TYPES))}"
            elif r < 0.7:
                repo = rng.choice(sorted({p.repo for p in self.C.prs if p.owner == 'salesforce'}))
                u = f"https://github.com/salesforce/{repo}/pull/{rng.randint(300, 999)}"
            else:
                u = f"https://{rng.choice(['medium.com', 'dev.to', 'towardsdatascience.com', 'hbr.org'])}/{rng.choice(['kiosk', 'parking', 'loyalty', 'orchid', 'kayak'])}-{rng.choice(['analytics', 'pipelines', 'at-scale', 'lessons'])}-{rng.randint(10, 99)}"
            if u not in self.W.raw_blob:
                return u

    def fake(self, rng):
        u = self.fake_url(rng)
        return row(self.relation, self.qtype, "", casual(rng.choice(self.T).format(u=u), rng, [u]), None, None, False)


class LinkWho(LinkWhere):
    relation, qtype = "link_sharer", "person"
    T: ClassVar[list[str]] = ["who shared {u}?", "who posted the link {u}", "who dropped {u} in slack", "who sent {u}?", "who linked {u}",
                              "who shared this: {u}"]

    def candidates(self):
        out = []
        for u, occ in sorted(self.W.shares.items()):
            who = {w for _, w, _ in occ}
            if None not in who and 1 <= len(who) <= 3 and len(occ) <= 3:
                out.append((u, occ))
        return out

    def ask(self, c, rng):
        u, occ = c
        r = LinkWhere.ask(self, c, rng)
        r["type"], r["ground_truth"], r["relation"] = "person", sorted({w for _, w, _ in occ}), self.relation
        r["question"] = casual(rng.choice(self.T).format(u=u), rng, [u])
        return r


# ---- short chains

class ChainPRAuthorManager(PRByTitle):
    relation, qtype = "chain_pr_author_manager", "person"
    T: ClassVar[list[str]] = ["who is the manager of the person who wrote {pr}?", "whos the boss of whoever opened {pr}",
                              "{pr} - who does its author report to?", "manager of the author of {pr}?",
                              "the person who authored {pr}, who's their manager"]

    def ok(self, p):
        return p.author in self.C.emp and self.C.emp[p.author]["manager_id"] in self.C.emp

    def gold(self, p):
        m = self.C.emp[p.author]["manager_id"]
        return [m], [self.C.herb(p.url), p.author, m]


class ChainRepoAuthorReviewers(ReviewedInRepo):
    relation, qtype = "chain_reviewers_of_authors_prs", "person"
    T: ClassVar[list[str]] = ["who reviewed the PRs {p} opened in {repo}?", "reviewers on {p}'s pull requests in {repo}",
                              "who reviews {p}'s PRs in {repo}", "who looked at PRs authored by {p} in {repo}",
                              "which people reviewed {p}'s {repo} PRs"]

    def candidates(self):
        idx = defaultdict(list)
        for p in self.C.prs:
            if p.owner == "salesforce" and p.author in self.C.emp:
                idx[(p.author, p.repo)].append(p)
        out = []
        for (a, repo), prs in sorted(idx.items()):
            revs = {l for p in prs for l, _ in p.reviews}
            if 1 <= len(prs) <= 4 and 1 <= len(revs) <= 8 and revs <= set(self.C.emp):
                out.append((a, repo, tuple(prs)))
        return out

    def ask(self, c, rng):
        a, repo, prs = c
        t = rng.choice(self.T)
        p = self.W.person_ref(a, rng, tmpl=t)
        rt = self.repo_text(repo, rng)
        q = t.format(p=p, repo=rt).replace("the the ", "the ")
        q = q.replace("'s the ", "'s ")
        gold = sorted({l for x in prs for l, _ in x.reviews})
        return row(self.relation, self.qtype, repo, casual(q, rng, [rt]), gold, [self.C.herb(x.url) for x in prs])


class ChainDocAuthorManager(DocAuthor):
    relation = "chain_doc_author_manager"
    T: ClassVar[list[str]] = ["who is the manager of the person who wrote {d}?", "who's the manager of {d}'s author",
                              "who does the author of {d} report to?", "whos the boss of whoever wrote {d}", "{d}: who manages its author?"]

    def candidates(self):
        return [c for c in DocAuthor.candidates(self) if self.C.emp[c[2][0].author]["manager_id"] in self.C.emp]

    def ask(self, c, rng):
        r = DocAuthor.ask(self, c, rng)
        a = c[2][0].author
        m = self.C.emp[a]["manager_id"]
        r["ground_truth"], r["citations"] = [m], r["citations"] + [a, m]
        return r


class ChainQuoteRole(QuoteSpeaker):
    relation, qtype = "chain_quote_speaker_role", "content"
    T_SLACK: ClassVar[list[str]] = ['what\'s the role of whoever said "{q}"?', 'what does the person who wrote "{q}" do here',
                                    'job title of the person who posted "{q}"?', 'someone said "{q}" - what is their role']
    T_MEET: ClassVar[list[str]] = ['in the meeting someone said "{q}" - what\'s their role?', 'what is the job title of the person who said "{q}"',
                                   'whoever said "{q}" in the call, what role do they have', 'what\'s the role of the one who said "{q}"?']

    def ask(self, c, rng):
        r = QuoteSpeaker.ask(self, c, rng)
        if r:
            r["type"], r["ground_truth"] = "content", self.C.emp[c[2]]["role"]
            r["citations"] = r["citations"] + [c[2]]
        return r


class ChainChannelCreatorLocation(ChannelCreator):
    relation, qtype = "chain_channel_creator_location", "content"
    T: ClassVar[list[str]] = ["where is the person who created #{ch} based?", "which office is whoever made {ch} in",
                              "the creator of the {ch} channel - where do they work from?", "what city is the person who set up {ch} in?"]

    def ask(self, c, rng):
        r = ChannelCreator.ask(self, c, rng)
        creator = c[1][0]
        r["ground_truth"], r["citations"] = self.C.emp[creator]["location"], r["citations"] + [creator]
        return r


FAMILIES = [Manager, Reports, Role, Location, CustomerCompany,
            PRByTitle, PRReviewers, PRApprovers, PRLink, PRState,
            ReviewedInRepo, ApprovedInRepo,
            DocAuthor, DocLink, DocDate, BookmarkURL,
            QuoteSpeaker, QuoteWhere, MeetingAttendees, MeetingDate,
            ChannelCreator, ChannelMembers, LinkWhere, LinkWho,
            ChainPRAuthorManager, ChainQuoteRole, ChainRepoAuthorReviewers, ChainDocAuthorManager,
            ChainChannelCreatorLocation]


# --------------------------------------------------------------------------- driver

def generate(herb: str, seed: int, per_family: int, unanswerable: int) -> list[dict]:
    C = Corpus(herb)
    W = World(C)
    rows = []
    for fam in FAMILIES:
        g = fam(W)
        rng = random.Random(f"{seed}:{g.relation}")
        cands = g.candidates()
        rng.shuffle(cands)
        got, seen_q, seen_e = [], set(), set()
        bal = Counter()
        for c in cands:
            if len(got) >= per_family:
                break
            # half Slack / half meeting quotes, half merged / half not for PR states
            key = c[0] if isinstance(g, QuoteSpeaker) else (g.balance(c) if hasattr(g, "balance") else None)
            if key is not None and bal[key] >= (per_family + 1) // 2:
                continue
            r = g.ask(c, rng)
            if r is None or r["question"].lower() in seen_q:
                continue
            ekey = r["relation"] + json.dumps(r["citations"])
            if ekey in seen_e:
                continue
            seen_q.add(r["question"].lower())
            seen_e.add(ekey)
            got.append(r)
            if key is not None:
                bal[key] += 1
        rows += got
        fk = []
        for _ in range(unanswerable * 4):
            if len(fk) >= unanswerable:
                break
            r = g.fake(rng) if hasattr(g, "fake") else None
            if r and r["question"].lower() not in seen_q:
                seen_q.add(r["question"].lower())
                fk.append(r)
        rows += fk
    rng = random.Random(seed)
    rng.shuffle(rows)
    out = []
    for i, r in enumerate(rows):
        r.pop("source", None)
        o = {"id": f"openqa-{i:04d}", "product": r["product"],
             "question": r["question"], "answerable": r["answerable"]}
        if r["answerable"]:
            o.update(type=r["type"], ground_truth=r["ground_truth"], citations=r["citations"])
            bad = [x for x in r["citations"] if x not in C.herb_ids]
            assert not bad, (r, bad)
        o["relation"] = r["relation"]
        if "title_variant" in r:
            o["title_variant"] = r["title_variant"]
        out.append(o)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--herb", default="/work/shared/herb")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-family", type=int, default=13, help="answerable questions per relation family")
    ap.add_argument("--unanswerable", type=int, default=4, help="no-answer questions per relation family")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "openqa", "questions.jsonl"))
    args = ap.parse_args()
    rows = generate(args.herb, args.seed, args.per_family, args.unanswerable)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    by = Counter((r["relation"], r["answerable"]) for r in rows)
    for rel in dict.fromkeys(f.relation for f in FAMILIES):
        print(f"{rel:34s} {by[(rel, True)]:3d} answerable  {by[(rel, False)]:3d} no answer")
    n_u = sum(not r["answerable"] for r in rows)
    print(f"{'total':34s} {len(rows)} rows, {n_u} no answer ({100 * n_u / len(rows):.1f}%) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
