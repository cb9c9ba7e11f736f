"""Reports for an eval run: results.json, report.md, report.html (escaped), PNG plots, a
ragas/deepeval-compatible dataset, and the comparison of two runs."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

PLOTTED = ["recall@10", "article_recall@10", "citation_precision", "citation_recall", "citation_f1", "support",
           "exact_match", "token_f1", "abstention_correct", "claims_recall"]


def write_report(results: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json", out / "report.md", out / "report.html", out / "metrics.png", out / "latency.png", out / "ragas.jsonl"]
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    _plots(results, out)
    (out / "report.md").write_text(_markdown(results))
    (out / "report.html").write_text(_html(results))
    with (out / "ragas.jsonl").open("w") as f:
        for r in results["questions"]:
            f.write(json.dumps({
                "question": r["question"], "contexts": r["contexts"], "answer": r["answer"],
                "ground_truth": "; ".join(g["text"] or "" for g in r["gold"]) or None,
                "reference_contexts": [g["text"] for g in r["gold"] if g["text"]],
            }, ensure_ascii=False) + "\n")
    return written


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _markdown(results: dict[str, Any]) -> str:
    m = results["metrics"]
    lines = [f"# whosaid eval: {results['settings'].get('suite', '')}", "", "| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in m.items()]
    lines += ["", f"Support judged by: {results['settings'].get('support_judge', '')}", "", "![metrics](metrics.png)", "![latency](latency.png)", "",
              "| id | question | answer | citations | gold | recall@10 | citation F1 | EM |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")[:300]  # noqa: E731
    for r in results["questions"]:
        cites = "; ".join(f"[{c['marker']}] {c['article_id']}:{c['sentence_index']}" for c in r["citations"])
        gold = "; ".join(f"{g['article_id']}: {g['text'] or ''}" for g in r["gold"])
        lines.append(f"| {cell(r['id'])} | {cell(r['question'])} | {cell(r['answer'])} | {cell(cites)} | {cell(gold)} | "
                     f"{_fmt(r['recall@10'])} | {_fmt(r['citation_f1'])} | {_fmt(r['exact_match'])} |")
    return "\n".join(lines) + "\n"


def _html(results: dict[str, Any]) -> str:
    e = html.escape
    m = results["metrics"]
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(_fmt(v))}</td></tr>" for k, v in m.items())
    q_rows = []
    for r in results["questions"]:
        cites = "<br>".join(f"[{c['marker']}] {e(c['article_id'])}:{c['sentence_index']} {e(c['text'])}" for c in r["citations"])
        gold = "<br>".join(f"{e(str(g['article_id']))}: {e(g['text'] or '')}" for g in r["gold"])
        q_rows.append(f"<tr class=\"q\"><td>{e(r['id'])}</td><td>{e(r['question'])}</td><td>{e(r['answer'])}</td><td>{cites}</td>"
                      f"<td>{gold}</td><td>{_fmt(r['recall@10'])}</td><td>{_fmt(r['citation_f1'])}</td><td>{_fmt(r['exact_match'])}</td></tr>")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>whosaid eval</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px;vertical-align:top;font-size:0.9em}}</style>
</head><body><h1>whosaid eval: {e(str(results['settings'].get('suite', '')))}</h1>
<p>Support judged by: {e(str(results['settings'].get('support_judge', '')))}</p>
<table id="metrics">{rows}</table>
<p><img src="metrics.png" alt="metrics"> <img src="latency.png" alt="latency"></p>
<table id="questions"><tr><th>id</th><th>question</th><th>answer</th><th>citations</th><th>gold</th><th>recall@10</th><th>citation F1</th><th>EM</th></tr>
{''.join(q_rows)}</table></body></html>
"""


def _plots(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = results["metrics"]
    names = [k for k in PLOTTED if k in m]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(names, [m[k] for k in names], color="#3a6fb0")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_title("whosaid eval metrics")
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.hist([r["latency_ms"] for r in results["questions"]], bins=30, color="#b05a3a")
    ax.set_xlabel("latency per question (ms)")
    ax.set_ylabel("questions")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=100)
    plt.close(fig)


def compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[tuple[str, float | None, float | None, float | None]], list[dict]]:
    """Per-metric (name, A, B, B-A) and the questions whose scores dropped from A to B."""
    deltas = []
    for k in sorted(set(a["metrics"]) | set(b["metrics"]), key=lambda k: (k not in PLOTTED, k)):
        va, vb = a["metrics"].get(k), b["metrics"].get(k)
        d = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        deltas.append((k, va, vb, d))
    old = {r["id"]: r for r in a["questions"]}
    worse = []
    for r in b["questions"]:
        o = old.get(r["id"])
        if not o:
            continue
        drops = {m: (o[m], r[m]) for m in ("recall@10", "citation_f1", "exact_match", "abstention_correct", "support")
                 if isinstance(o.get(m), (int, float)) and isinstance(r.get(m), (int, float)) and r[m] < o[m] - 1e-9}
        if drops:
            worse.append({"id": r["id"], "question": r["question"], "drops": drops})
    return deltas, worse


def write_links_report(results: dict[str, Any], out: Path) -> list[Path]:
    """The report of a links suite (evals/links.py): results.json, report.md and report.html with
    precision, recall and F1 (overall and per kind), the threshold sweep, every predicted link with
    the gold it matches, and the gold links missed."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    m = results["metrics"]
    kinds = [k for k, v in m.items() if isinstance(v, dict)]
    lines = [f"# whosaid links eval: {results.get('settings', {}).get('suite', '')}", "",
             f"Threshold {results['threshold']} (links.threshold; tuned on this suite). A predicted link is right when both its "
             "sentences contain the gold texts; the kind is ignored for the first row and checked per kind below.", "",
             "| | precision | recall | F1 | predicted | gold |", "| --- | --- | --- | --- | --- | --- |",
             f"| all | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} | {m['predicted']} | {m['gold']} |"]
    lines += [f"| {k} | {_fmt(m[k]['precision'])} | {_fmt(m[k]['recall'])} | {_fmt(m[k]['f1'])} | {m[k]['predicted']} | {m[k]['gold']} |" for k in kinds]
    lines += ["", "## Threshold sweep", "", "| threshold | precision | recall | F1 | predicted |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['threshold']} | {_fmt(r['precision'])} | {_fmt(r['recall'])} | {_fmt(r['f1'])} | {r['predicted']} |" for r in results["sweep"]]
    cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")[:200]  # noqa: E731
    lines += ["", "## Predicted links", "", "| kind | score | from | to | gold |", "| --- | --- | --- | --- | --- |"]
    for x in results["links"]:
        lines.append(f"| {x['kind']} | {x['score']:.3f} | {cell(x['from']['article_id'])}: {cell(x['from']['text'])} | "
                     f"{cell(x['to']['article_id'])}: {cell(x['to']['text'])} | {', '.join(x['gold']) or 'none'} |")
    lines += ["", "## Gold links missed", "", "| id | kind | from | to |", "| --- | --- | --- | --- |"]
    lines += [f"| {g['id']} | {g['kind']} | {cell(g['from_article'])}: {cell(g['from_text'])} | {cell(g['to_article'])}: {cell(g['to_text'])} |"
              for g in results["missed"]]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    e = html.escape
    table = lambda head, rows: ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"  # noqa: E731
                                + "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows) + "</table>")
    body = [f"<h1>whosaid links eval: {e(str(results.get('settings', {}).get('suite', '')))}</h1>",
            f"<p>Threshold {e(str(results['threshold']))} (links.threshold; tuned on this suite).</p>",
            '<div id="metrics">' + table(["", "precision", "recall", "F1", "predicted", "gold"],
                                         [["all", _fmt(m["precision"]), _fmt(m["recall"]), _fmt(m["f1"]), m["predicted"], m["gold"]]]
                                         + [[k, _fmt(m[k]["precision"]), _fmt(m[k]["recall"]), _fmt(m[k]["f1"]), m[k]["predicted"], m[k]["gold"]]
                                            for k in kinds]) + "</div>",
            "<h2>Threshold sweep</h2>", '<div id="sweep">' + table(["threshold", "precision", "recall", "F1", "predicted"],
                                                                   [[r["threshold"], _fmt(r["precision"]), _fmt(r["recall"]), _fmt(r["f1"]), r["predicted"]]
                                                                    for r in results["sweep"]]) + "</div>",
            "<h2>Predicted links</h2>", table(["kind", "score", "from", "to", "gold"],
                                              [[x["kind"], f"{x['score']:.3f}", f"{x['from']['article_id']}: {x['from']['text']}",
                                                f"{x['to']['article_id']}: {x['to']['text']}", ", ".join(x["gold"]) or "none"] for x in results["links"]]),
            "<h2>Gold links missed</h2>", table(["id", "kind", "from", "to"], [[g["id"], g["kind"], f"{g['from_article']}: {g['from_text']}",
                                                                              f"{g['to_article']}: {g['to_text']}"] for g in results["missed"]])]
    (out / "report.html").write_text('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>whosaid links eval</title>'
                                     "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
                                     "padding:4px;vertical-align:top;font-size:0.9em}</style></head><body>" + "".join(body) + "</body></html>\n")
    return [out / "results.json", out / "report.md", out / "report.html"]
