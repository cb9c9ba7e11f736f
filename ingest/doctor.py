"""``whosaid doctor``: check that the catalogue, the Chroma vectors and the BM25 index agree, repair
what can be repaired and say what was done.

The catalogue is the truth; everything else is derived from it and can be rebuilt: vectors the
catalogue does not list are removed, vectors it lists but Chroma lacks are embedded again (whatever
the "vectors may disagree" mark says, which a repair that finds them agreeing clears), the
lexical index is rebuilt, and an article whose stored rows do not fit together (or were extracted by
an older lexicon) is derived again from the text the catalogue keeps. Only damage to SQLite itself
cannot be repaired here: that needs a backup or a fresh ingest.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

from ingest.claims import ClaimExtractor
from ingest.pipeline import make_extractor, article_version, rebuild
from rag.store import Store


@dataclass
class Finding:
    """One thing checked: what was found, and what the repair did (empty when nothing was needed)."""

    check: str
    problem: str = ""
    repaired: str = ""
    fixable: bool = True

    def line(self) -> str:
        return f"{self.check}: " + (self.problem + (f" -> {self.repaired}" if self.repaired else "") if self.problem else "ok")

    @property
    def ok(self) -> bool:
        return not self.problem or (bool(self.repaired) and self.fixable)


@dataclass
class DoctorReport:
    counts: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]

    def to_json_dict(self) -> dict:
        return {"healthy": self.healthy, "counts": self.counts, "findings": [{**asdict(f), "ok": f.ok} for f in self.findings]}


def doctor(store: Store, *, repair: bool = True, extractor: ClaimExtractor | None = None,
           say: Callable[[str], None] | None = None, progress: bool = False) -> DoctorReport:
    """Check the store's index space; with ``repair``, fix every problem that can be fixed (under the
    write lock, so no ingest runs meanwhile). ``say`` gets one line per check once it is done."""
    report = DoctorReport()
    with store.writing() if repair else nullcontext():
        _run(store, report, repair, extractor, say or (lambda _line: None), progress)
    if all(f.fixable for f in report.findings):  # a damaged file is not counted from
        report.counts = {**store.catalogue.counts(store.space), "vectors": store.vectors.count()}
    return report


def _run(store: Store, report: DoctorReport, repair: bool, extractor: ClaimExtractor | None, say, progress: bool) -> None:
    for finding in _checks(store, repair, extractor, progress):
        report.findings.append(finding)
        say(finding.line())


def _checks(store: Store, repair: bool, extractor: ClaimExtractor | None, progress: bool) -> Iterator[Finding]:
    """Each check in turn, yielded once its repair (if any) is done."""
    cat, space = store.catalogue, store.space
    integrity = cat.integrity()
    if integrity != "ok":
        first = " ".join(integrity.split())[:200]
        yield Finding("catalogue file", f"{cat.location} reports damage ({first}); restore a backup, or move it away and ingest again", fixable=False)
        return  # nothing read from a damaged file can be trusted; restore a backup or ingest again

    yield Finding("catalogue file")
    orphans = {t: n for t, n in cat.orphan_rows(space).items() if n}
    f = Finding("catalogue rows", ", ".join(f"{n} {t} rows without their article" for t, n in orphans.items()) if orphans else "")
    if orphans and repair:
        f.repaired = f"removed {cat.delete_orphan_rows(space)} rows"
    yield f

    extractor = extractor or make_extractor(store)
    broken = cat.broken_articles(space)
    stale = sorted(i for i, v in cat.versions(space).items()
                   if i not in broken and v != article_version(cat.article(space, i), extractor.version))
    problems = [f"{len(broken)} article(s) whose rows do not fit together (e.g. '{next(iter(broken))}': {next(iter(broken.values()))})"] if broken else []
    problems += [f"{len(stale)} article(s) extracted by an older whosaid or lexicon"] if stale else []
    f = Finding("articles", "; ".join(problems))
    if problems and repair:
        redo = sorted(broken) + stale
        done = rebuild(store, redo, extractor=extractor, progress=progress)
        f.repaired = f"derived {done.updated} of {len(redo)} again from their stored text" + (
            f"; {len(done.failed)} could not be: " + "; ".join(e.error for e in done.failed[:3]) if done.failed else "")
        f.fixable = not done.failed
    yield f

    known, present = cat.chunk_ids(space), store.vectors.ids()
    extra, missing = present - known, known - present
    problems = ([f"{len(extra)} vectors the catalogue does not list (left by an interrupted ingest)"] if extra else []) + (
        [f"{len(missing)} chunks without a vector"] if missing else [])
    f = Finding("vectors", "; ".join(problems))
    if problems and repair:
        done = store.reconcile()  # clears the "vectors may disagree" mark too
        f.repaired = f"removed {done.removed}, embedded {done.restored} again"
    elif repair and cat.vectors_dirty(space):
        cat.clear_vectors_dirty(space)  # checked in full just now: the next ingest need not diff again
    yield f

    problem = store.lexical_health()
    f = Finding("lexical index", problem or "")
    if problem and repair:
        f.repaired = f"rebuilt from the catalogue ({store.rebuild_lexical()} chunks)"
    yield f
