"""Eval metrics on hand-made cases, the runner end to end on a tiny suite, resume, --fail-under,
the report files, and the HTML report in the browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evals.metrics import article_recall_at_k, citation_prf, exact_match, overlaps, recall_at_k, token_f1
from evals.suites import SuiteError, load_suite

HERE = Path(__file__).resolve().parent


def test_span_overlap_counts_different_splitting() -> None:
    gold = ("a", 100, 200)
    assert overlaps(("a", 100, 200), gold)
    assert overlaps(("a", 90, 160), gold)  # 60 of the shorter 70 chars shared
    assert not overlaps(("a", 190, 300), gold)  # 10 of 100
    assert not overlaps(("b", 100, 200), gold)
    # a gold sentence split in two by another splitter still matches both halves
    assert overlaps(("a", 100, 150), gold) and overlaps(("a", 151, 200), gold)


def test_citation_prf_partial_and_empty() -> None:
    gold = [("a", 0, 50), ("b", 0, 40)]
    assert citation_prf([("a", 0, 50), ("c", 0, 10)], gold) == (0.5, 0.5, 0.5)
    assert citation_prf([], gold) == (0.0, 0.0, 0.0)
    assert citation_prf([], []) == (1.0, 1.0, 1.0)  # correct abstention
    p, r, f = citation_prf([("a", 0, 20), ("a", 21, 50), ("b", 5, 40)], gold)
    assert (p, r) == (1.0, 1.0) and f == 1.0


def test_recall_at_k_and_article_recall() -> None:
    retrieved = [("x", 0, 10), ("a", 0, 50), ("y", 0, 5), ("b", 0, 40)]
    gold = [("a", 0, 50), ("b", 0, 40)]
    assert recall_at_k(retrieved, gold, 2) == 0.5
    assert recall_at_k(retrieved, gold, 4) == 1.0
    assert recall_at_k(retrieved, [], 4) is None
    assert article_recall_at_k(["x", "a", "y"], ["a", "b"], 3) == 0.5


def test_exact_match_and_token_f1() -> None:
    assert exact_match("The answer is Arthur's Magazine [1]", ["Arthur's Magazine"]) == 1.0
    assert exact_match("First for Women", ["Arthur's Magazine"]) == 0.0
    assert token_f1("the Harbour Authority denied it", ["Harbour Authority"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("nothing", ["Harbour Authority"]) == 0.0


def _suite(tmp_path: Path) -> Path:
    articles = [
        {"id": "port", "title": "Port sale denied", "text": "The harbour minister denied that the port would be sold. Unions welcomed the news."},
        {"id": "bank", "title": "Bank holds rates", "text": "The governor ruled out an emergency rate cut. Inflation stayed at four percent."},
    ]
    lines = [{"corpus": articles},
             {"id": "q1", "question": "Who ruled out an emergency rate cut?", "answer": "the governor",
              "gold": [{"article_id": "bank", "sentence_index": 0}], "tags": ["rule_out"],
              "gold_claims": [{"speaker": "The governor", "stance": "rule_out"}]},
             {"id": "q2", "question": "What was inflation?", "answer": "four percent",
              "gold": [{"article_id": "bank", "text": "Inflation stayed at four percent."}]},
             {"id": "q3", "question": "What is the capital of Mongolia?", "gold": [], "expect_abstain": True}]
    p = tmp_path / "tiny.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return p


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=env, timeout=600)


def test_runner_end_to_end_resume_and_fail_under(tmp_path: Path) -> None:
    suite, out, home = _suite(tmp_path), tmp_path / "run", tmp_path / "home"
    r = _cli("eval", str(suite), "--out", str(out), "--json", "--no-progress", home=home)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["questions"] == 3 and m["markers_valid"] == 1.0 and m["abstention_correct"] == 1.0
    assert m["recall@10"] == 1.0 and m["citation_f1"] == 1.0 and m["claims_recall"] == 1.0
    for name in ("results.json", "report.md", "report.html", "metrics.png", "latency.png", "ragas.jsonl", "rows.jsonl"):
        assert (out / name).stat().st_size > 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"metrics", "questions", "settings"} and "lexical" in results["settings"]["support_judge"]
    ragas = [json.loads(line) for line in (out / "ragas.jsonl").read_text().splitlines()]
    assert set(ragas[0]) >= {"question", "contexts", "answer", "ground_truth"}

    # resume: drop the last row as if interrupted; only that question is asked again
    rows = (out / "rows.jsonl").read_text().splitlines()
    (out / "rows.jsonl").write_text("\n".join(rows[:2]) + "\n" + rows[2][:20])
    r = _cli("eval", str(suite), "--out", str(out), "--json", "--no-progress", home=home)
    assert json.loads(r.stdout)["questions"] == 3
    assert len([line for line in (out / "rows.jsonl").read_text().splitlines() if line.startswith("{") and line.endswith("}")]) == 3

    assert _cli("eval", str(suite), "--out", str(out), "--fail-under", "citation_f1=0.5", "--no-progress", home=home).returncode == 0
    r = _cli("eval", str(suite), "--out", str(out), "--fail-under", "exact_match=1.01", "--no-progress", home=home)
    assert r.returncode == 1 and "fail: exact_match" in r.stderr
    assert _cli("eval", str(suite), "--fail-under", "nonsense=1", home=home).returncode == 2

    r = _cli("eval", "compare", str(out), str(out), home=home)
    assert r.returncode == 0 and "0 questions got worse" in r.stdout


def test_compare_lists_questions_that_got_worse(tmp_path: Path) -> None:
    from evals.report import compare

    a = {"metrics": {"citation_f1": 0.8}, "questions": [{"id": "q1", "question": "?", "citation_f1": 1.0, "recall@10": 1.0}]}
    b = {"metrics": {"citation_f1": 0.6}, "questions": [{"id": "q1", "question": "?", "citation_f1": 0.5, "recall@10": 1.0}]}
    deltas, worse = compare(a, b)
    assert ("citation_f1", 0.8, 0.6, pytest.approx(-0.2)) in deltas
    assert worse == [{"id": "q1", "question": "?", "drops": {"citation_f1": (1.0, 0.5)}}]


def test_hotpot_files_are_recognised_and_pooled(tmp_path: Path) -> None:
    p = tmp_path / "hp.jsonl"
    rows = [{"id": "h1", "question": "Q?", "answer": "A", "contexts": [{"title": "T1", "sentences": ["One.", " Two."]},
                                                                     {"title": "T2", "sentences": ["Three."]}],
             "supporting": [["T1", 1], ["T2", 0]]},
            {"id": "h2", "question": "Q2?", "answer": "B", "contexts": [{"title": "T1", "sentences": ["One.", " Two."]}],
             "supporting": [["T1", 0]]}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = load_suite(p)
    assert suite.format == "hotpot" and [a["id"] for a in suite.corpus_records] == ["T1", "T2"]
    g = suite.questions[0].gold[0]
    assert suite.corpus_records[0]["text"][g.span[0] : g.span[1]] == "Two."
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"corpus": "x"}\n{"id": "q"\n')
    with pytest.raises(SuiteError, match="bad.jsonl:2: malformed JSON"):
        load_suite(bad)


def test_musique_style_paragraph_support_and_unanswerable_questions(tmp_path: Path) -> None:
    p = tmp_path / "mq.jsonl"
    rows = [{"id": "m1", "question": "Q?", "answer": "A", "answer_aliases": ["Alias"], "answerable": True,
             "contexts": [{"title": "T", "paragraph_idx": 0, "sentences": ["First paragraph."]},
                          {"title": "T", "paragraph_idx": 1, "sentences": ["Second paragraph."]}],
             "supporting": [["T", 0, 1]]},
            {"id": "m2", "question": "Q2?", "answer": "", "answerable": False,
             "contexts": [{"title": "T", "paragraph_idx": 0, "sentences": ["First paragraph."]}], "supporting": []}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = load_suite(p)
    assert [a["id"] for a in suite.corpus_records] == ["T", "T #2"]
    q1, q2 = suite.questions
    assert [(g.article_id, g.text) for g in q1.gold] == [("T #2", "Second paragraph.")]
    assert q1.answers == ["A", "Alias"] and not q1.expect_abstain and q2.expect_abstain
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**rows[0], "supporting": [["T", 0, 1, 2]]}) + "\n")
    with pytest.raises(SuiteError, match="bad.jsonl:1: not a HotpotQA-style record"):
        load_suite(bad)


def test_html_report_opens_in_the_browser(tmp_path: Path) -> None:
    from tests.servers import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    from evals.report import write_report

    results = {"metrics": {"recall@10": 0.5, "citation_f1": 0.25, "latency_p50_ms": 3.0},
               "questions": [{"id": "q1", "question": "Who <b>denied</b>?", "answer": "X <script>window.__x=1</script> [1]", "citations": [],
                              "gold": [{"article_id": "a", "text": "g"}], "contexts": [], "recall@10": 0.5, "citation_f1": 0.25,
                              "exact_match": 0.0, "latency_ms": 3.0}],
               "settings": {"suite": "t", "support_judge": "lexical"}}
    write_report(results, tmp_path)
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = b.new_page()
        page.goto((tmp_path / "report.html").as_uri(), wait_until="load")
        assert page.locator("#metrics").inner_text().count("0.500") == 1
        assert "<script>" in page.locator("#questions").inner_text() and page.evaluate("window.__x") is None
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        b.close()


def test_misattributed_counts_wrong_speakers_stances_and_answers_to_unanswerable_questions() -> None:
    from evals.metrics import claim_matches, misattributed, same_speaker

    ask = {"speakers": ["Tomas Reyland"], "stances": ["deny"]}
    assert not misattributed(ask, False, False, [("Tomas Reyland", "deny")])
    assert misattributed(ask, False, False, [("Tomas Reyland", "deny"), ("Harbour Authority", "deny")])  # someone else's claim
    assert misattributed(ask, False, False, [("Tomas Reyland", "confirm")])  # another stance
    assert not misattributed(ask, False, True, [])  # an abstention never misattributes
    assert misattributed({"speakers": [], "stances": ["deny"]}, True, False, [])  # "not reported", yet answered
    assert not misattributed({"stances": ["rule_out"]}, False, False, [("Brandt", "rule_out")])  # no speaker asked
    assert same_speaker("interior ministry", "The interior ministry") and not same_speaker("Tomas Reyland", "Reyland")
    assert claim_matches({"speaker": "Balint", "stance": "rule_out", "negated": True}, "Gregor Balint", "rule_out", True)
    assert not claim_matches({"speaker": "Balint", "stance": "rule_out", "negated": True}, "Gregor Balint", "rule_out", False)


def test_tagged_metrics_and_fail_over(tmp_path: Path) -> None:
    from evals.runner import aggregate

    rows = [{"tags": ["factual"], "citation_f1": 1.0, "latency_ms": 1.0},
            {"tags": ["attribution"], "citation_f1": 0.0, "misattributed": 1.0, "latency_ms": 1.0}]
    m = aggregate(rows)
    assert (m["citation_f1"], m["factual:citation_f1"], m["attribution:citation_f1"], m["misattributed"]) == (0.5, 1.0, 0.0, 1.0)
    assert "factual:misattributed" not in m and m["factual:questions"] == 1
