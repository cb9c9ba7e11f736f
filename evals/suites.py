"""Suite loading: whosaid's JSONL suites and HotpotQA-style files (recognised by their fields).

whosaid suite (JSONL): a line ``{"corpus": PATH | [articles]}`` (a path relative to the suite file,
or article records inline), then one line per question:
``{"id", "question", "answer"?, "aliases"?, "gold": [{"article_id", "sentence_index"} | {"article_id"?, "text"}],
"expect_abstain"?, "tags"?, "gold_claims"?: [{"speaker", "stance", "negated"?}], "ask"?: {"speakers"?, "stances"?}}``.

HotpotQA-style (JSONL): ``{"id", "question", "answer", "contexts": [{"title", "sentences"}], "supporting":
[[title, sentence_index], ...]}``; all contexts are pooled into one corpus, one article per title,
its text the sentences joined by spaces, so gold sentences become exact character spans.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class SuiteError(ValueError):
    """A suite file that cannot be read; the message names the file and line."""


@dataclass
class GoldSentence:
    article_id: str | None = None
    sentence_index: int | None = None
    text: str | None = None
    span: tuple[int, int] | None = None  # resolved character span in the article text


@dataclass
class Question:
    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    gold: list[GoldSentence] = field(default_factory=list)
    expect_abstain: bool = False
    tags: list[str] = field(default_factory=list)
    gold_claims: list[dict[str, Any]] = field(default_factory=list)
    ask: dict[str, Any] | None = None  # what an attribution question names: {"speakers": [...], "stances": [...]}


@dataclass
class Suite:
    name: str
    format: str
    questions: list[Question]
    corpus_paths: list[Path] = field(default_factory=list)
    corpus_records: list[dict[str, Any]] = field(default_factory=list)


def detect(path: Path) -> Literal["whosaid", "hotpot"]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                first = json.loads(line)
                return "hotpot" if isinstance(first, dict) and "contexts" in first and "supporting" in first else "whosaid"
    raise SuiteError(f"{path}: empty suite")


def load_suite(path: Path, fmt: str = "auto", limit: int | None = None) -> Suite:
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite file")
    try:
        fmt = detect(path) if fmt == "auto" else fmt
    except json.JSONDecodeError as e:
        raise SuiteError(f"{path}:1: malformed JSON ({e.msg})") from None
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as e:
                raise SuiteError(f"{path}:{n}: malformed JSON line ({e.msg})") from None
    return (_hotpot if fmt == "hotpot" else _whosaid)(path, rows, limit)


def _whosaid(path: Path, rows: list[tuple[int, Any]], limit: int | None) -> Suite:
    suite = Suite(name=path.stem, format="whosaid", questions=[])
    for n, row in rows:
        if not isinstance(row, dict):
            raise SuiteError(f"{path}:{n}: expected an object")
        if "corpus" in row and "question" not in row:
            corpus = row["corpus"]
            if isinstance(corpus, str):
                suite.corpus_paths.append((path.parent / corpus).resolve())
            elif isinstance(corpus, list):
                suite.corpus_records.extend(corpus)
            else:
                raise SuiteError(f"{path}:{n}: 'corpus' must be a path or a list of articles")
            continue
        if not row.get("question") or not row.get("id"):
            raise SuiteError(f"{path}:{n}: a question line needs 'id' and 'question'")
        answers = ([row["answer"]] if row.get("answer") else []) + list(row.get("aliases") or [])
        gold = [GoldSentence(g.get("article_id"), g.get("sentence_index"), g.get("text")) for g in row.get("gold") or []]
        suite.questions.append(Question(
            id=str(row["id"]), question=row["question"], answers=answers, gold=gold,
            expect_abstain=bool(row.get("expect_abstain")), tags=list(row.get("tags") or []),
            gold_claims=list(row.get("gold_claims") or []), ask=_ask(path, n, row.get("ask")),
        ))
    if not suite.corpus_paths and not suite.corpus_records:
        raise SuiteError(f"{path}: no corpus line ({{\"corpus\": PATH}} or {{\"corpus\": [articles]}})")
    suite.questions = suite.questions[:limit] if limit else suite.questions
    return suite


def _ask(path: Path, n: int, ask: Any) -> dict[str, Any] | None:
    if ask is None:
        return None
    if not isinstance(ask, dict) or not all(isinstance(ask.get(k, []), list) for k in ("speakers", "stances")):
        raise SuiteError(f"{path}:{n}: 'ask' must be {{\"speakers\": [...], \"stances\": [...]}}")
    return ask


def _hotpot(path: Path, rows: list[tuple[int, Any]], limit: int | None) -> Suite:
    """HotpotQA/2Wiki (``supporting``: ``[title, sentence_index]``) and MuSiQue-style files
    (``[title, sentence_index, paragraph_idx]``, ``answerable``). Contexts are pooled: one article
    per distinct (title, text); a title whose text differs between questions gets ``title #2``..."""
    suite = Suite(name=path.stem, format="hotpot", questions=[])
    articles: dict[str, dict[str, Any]] = {}
    by_content: dict[tuple[str, str], str] = {}
    spans: dict[str, list[tuple[int, int]]] = {}
    for n, row in rows[:limit] if limit else rows:
        try:
            local: dict[tuple[str, Any], str] = {}  # (title, paragraph_idx) -> article id, for this question
            for ctx in row["contexts"]:
                title = ctx["title"]
                text, offsets = "", []
                for sentence in ctx["sentences"]:
                    sentence = sentence.strip()
                    if text:
                        text += " "
                    offsets.append((len(text), len(text) + len(sentence)))
                    text += sentence
                if not text:
                    continue
                aid = by_content.get((title, text))
                if aid is None:
                    aid, k = title, 1
                    while aid in articles:
                        k += 1
                        aid = f"{title} #{k}"
                    by_content[(title, text)] = aid
                    articles[aid] = {"id": aid, "title": title, "text": text}
                    spans[aid] = offsets
                local[(title, ctx.get("paragraph_idx"))] = aid
                local.setdefault((title, None), aid)
            gold = []
            for support in row["supporting"]:
                if len(support) not in (2, 3):
                    raise ValueError(f"a supporting entry is [title, index] or [title, index, paragraph_idx], not {support!r}")
                title, idx, paragraph = (*support, None)[:3]
                aid = local.get((title, paragraph))
                if aid is not None and 0 <= idx < len(spans[aid]):
                    s, e = spans[aid][idx]
                    gold.append(GoldSentence(aid, None, articles[aid]["text"][s:e], (s, e)))
            answers = [row["answer"]] if row.get("answer") else []
            answers += [a for a in row.get("answer_aliases", []) if a]
            suite.questions.append(Question(id=str(row["id"]), question=row["question"], answers=answers, gold=gold,
                                            expect_abstain=row.get("answerable") is False,
                                            tags=[row.get("source", "hotpot")]))
        except (KeyError, TypeError, ValueError) as e:
            raise SuiteError(f"{path}:{n}: not a HotpotQA-style record ({e})") from None
    suite.corpus_records = list(articles.values())
    return suite
