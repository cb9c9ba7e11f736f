"""The ``whosaid`` command: ingest, ask, list, delete."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="whosaid",
    help="Question answering over news articles; every answer cites the exact sentences it rests on.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain click help: Rich help shows a flag as "--json <bool>", as if it took a value
    rich_markup_mode=None,
)

Home = Annotated[Optional[Path], typer.Option("--home", help="Data directory (default: $WHOSAID_HOME or the XDG data dir)", show_default=False)]
Collection = Annotated[Optional[str], typer.Option("--collection", "-c", help="Collection name (default: $WHOSAID_COLLECTION or 'default')", show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout")]


def _settings(home: Path | None, collection: str | None):
    from pydantic import ValidationError

    from rag.settings import Settings

    overrides = {}
    if home is not None:
        overrides["home"] = home
    if collection is not None:
        overrides["collection"] = collection
    try:
        return Settings(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        _die(f"invalid setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")


Sources = Annotated[list[str], typer.Option("--source", metavar="NAME", help="Only articles from this outlet (exact name, any case; repeatable)", show_default=False)]
Since = Annotated[Optional[str], typer.Option("--since", metavar="DATE", help="Only articles published on or after this day: YYYY, YYYY-MM or YYYY-MM-DD "
                                              "(articles without a readable date are left out)", show_default=False)]
Until = Annotated[Optional[str], typer.Option("--until", metavar="DATE", help="Only articles published on or before this day (inclusive): YYYY, YYYY-MM or YYYY-MM-DD",
                                              show_default=False)]
Articles = Annotated[list[str], typer.Option("--article", metavar="ID", help="Only this article id (repeatable)", show_default=False)]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV (spreadsheet-safe) on stdout")]
AsJsonl = Annotated[bool, typer.Option("--jsonl", help="Print JSON Lines on stdout")]


def _filters(sources: list[str], since: str | None, until: str | None, articles: list[str], speaker: str | None):
    """The filters the options give, or one line naming the option at fault (exit 2)."""
    from rag.filters import FilterError, make_filters

    try:
        return make_filters(sources, since, until, articles, speaker)
    except FilterError as e:
        option, _, rest = str(e).partition(": ")
        _die(f"--{option}: {rest}" if rest else f"--{e}")


def _one_format(**flags: bool) -> str | None:
    chosen = [name for name, on in flags.items() if on]
    if len(chosen) > 1:
        _die("choose one of " + ", ".join(f"--{n}" for n in chosen))
    return chosen[0] if chosen else None


def _die(message: str, code: int = 2):
    typer.echo(f"whosaid: {message}", err=True)
    raise typer.Exit(code)


def _store(home: Path | None, collection: str | None):
    from rag.attribution.lexicon import LexiconError, load_lexicon
    from rag.embeddings import EmbedderError, make_embedder
    from rag.store import Store

    settings = _settings(home, collection)
    try:
        load_lexicon(settings.claims.lexicon)  # a broken lexicon is one clear line, before anything is touched
    except LexiconError as e:
        _die(str(e))
    try:
        embedder = make_embedder(settings.embedder, settings.openai_api_key)
    except EmbedderError as e:
        _die(str(e))
    return Store(settings, embedder)


def _sources(args: list[str]) -> list[Path | str]:
    """Command-line inputs: an http(s) URL stays a string (a feed to fetch), anything else is a path."""
    from ingest.web import is_url

    return [a if is_url(a) else Path(a) for a in args]


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(metavar="PATH|FEED_URL", help="Files or folders (recursive): .txt .md .html .json "
                                              ".jsonl .csv .docx .pdf, feeds (.xml .rss .atom), URL lists (.urls); or an RSS/Atom feed's "
                                              "http(s) URL", show_default=False)],
    collection: Collection = None,
    home: Home = None,
    as_json: AsJson = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr")] = True,
    encoding: Annotated[Optional[str], typer.Option("--encoding", help="Read every text input in this encoding (e.g. cp1252) "
                                                     "instead of UTF-8 or the one detected", show_default=False)] = None,
) -> None:
    """Ingest articles; unchanged ones are skipped, changed ones replaced. Exit 1 if any input failed."""
    import codecs
    from ingest.pipeline import ingest as run_ingest
    from rag.embeddings import EmbedderError
    from rag.store import StoreBusy

    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            _die(f"unknown encoding '{encoding}' (try utf-8, cp1252, latin-1)")
    store = _store(home, collection)
    try:
        report = run_ingest(_sources(paths), store, progress=progress and sys.stderr.isatty(), encoding=encoding,
                            on_error=lambda e: typer.echo(f"error: {e}", err=True),
                            on_notice=lambda n: typer.echo(f"notice: {n}", err=True))
    except EmbedderError as e:
        _die(str(e))
    except StoreBusy as e:
        _die(str(e), 3)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report.to_json_dict()))
    else:
        typer.echo(report.summary())
    if report.failed:
        raise typer.Exit(1)


@app.command()
def watch(
    target: Annotated[str, typer.Argument(metavar="PATH|FEED_URL", help="A folder, a file (a feed, a URL list...) or an RSS/Atom "
                                          "feed's http(s) URL", show_default=False)],
    every: Annotated[str, typer.Option("--every", help="Time between rounds: 30s, 10m, 1h")] = "10m",
    once: Annotated[bool, typer.Option("--once", help="One round, then exit (1 if anything failed)")] = False,
    collection: Collection = None,
    home: Home = None,
    encoding: Annotated[Optional[str], typer.Option("--encoding", help="Read every text input in this encoding", show_default=False)] = None,
) -> None:
    """Ingest TARGET now and every --every: what is new or changed, one line per round. Ctrl-C or
    SIGTERM stops it (exit 0)."""
    import signal

    from ingest.watch import parse_every, watch as run_watch

    try:
        seconds = parse_every(every)
    except ValueError as e:
        _die(str(e))
    sources = _sources([target])
    store = _store(home, collection)

    def stop(signum, frame):  # SIGTERM ends the watch as Ctrl-C does: between writes, each article whole
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        ok = run_watch(sources[0], store, every=seconds, once=once, encoding=encoding,
                       say=lambda line: typer.echo(line),
                       on_error=lambda e: typer.echo(f"error: {e}", err=True),
                       on_notice=lambda n: typer.echo(f"notice: {n}", err=True))
    except KeyboardInterrupt:
        typer.echo("watch stopped", err=True)
        ok = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        store.close()
    if once and not ok:
        raise typer.Exit(1)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes", show_default=False)],
    collection: Collection = None,
    home: Home = None,
    as_json: AsJson = False,
    k: Annotated[Optional[int], typer.Option("-k", min=1, max=100, help="Candidate sentences retrieved (default 10)", show_default=False)] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Print the answer as it is produced")] = False,
    llm: Annotated[bool, typer.Option("--llm/--no-llm", help="Use the configured LLM endpoint (default when one is set)")] = True,
    source: Sources = [],
    since: Since = None,
    until: Until = None,
    article: Articles = [],
    speaker: Annotated[Optional[str], typer.Option("--speaker", metavar="NAME", help="Only the articles where this speaker (name words or key) has claims; "
                                                   "attribution answers only from their claims", show_default=False)] = None,
    as_csv: AsCsv = False,
    as_jsonl: AsJsonl = False,
) -> None:
    """Answer a question from the ingested articles, citing each sentence it quotes by number."""
    from rag.engine import Engine
    from rag.llm import make_chat_model
    from rag.types import DeltaEvent, DoneEvent, NoticeEvent, StatementEvent

    if not question.strip():
        _die("the question is empty")
    filters = _filters(source, since, until, article, speaker)
    export = _one_format(json=as_json, csv=as_csv, jsonl=as_jsonl)
    if export in ("csv", "jsonl"):
        stream, as_json = False, True  # nothing but the export on stdout
    store = _store(home, collection)
    if not store.catalogue.counts(store.space)["articles"]:
        _die(f"collection '{store.settings.collection}' is empty: run `whosaid ingest PATH` first")
    engine = Engine(store, chat_model=make_chat_model(store.settings.llm) if llm else None)
    answer = meta = None
    try:
        for event in engine.stream(question, k, filters=filters):
            if isinstance(event, DoneEvent):
                answer = event.answer
            elif not stream or as_json:
                continue
            elif isinstance(event, DeltaEvent):
                typer.echo(event.text, nl=False)
            elif isinstance(event, StatementEvent):
                marks = "".join(f"[{c.marker}]" for c in event.citations)
                typer.echo(f" {marks}" + ("" if event.supported else " (unsupported)") + " ", nl=False)
            elif isinstance(event, NoticeEvent):
                typer.echo(f"\nnotice: {event.text}", err=True)
        if export in ("csv", "jsonl"):  # the cited articles' source and date
            from rag.filters import articles_meta

            meta = articles_meta(store, (c.article_id for c in answer.citations) if answer is not None else ())
    except Exception as e:  # noqa: BLE001 - one clear line, never a traceback
        _die(f"could not answer the question ({type(e).__name__}: {str(e)[:200]})", 1)
    finally:
        store.close()
    assert answer is not None
    if export in ("csv", "jsonl"):
        from rag.export import answer_csv, answer_jsonl

        typer.echo((answer_csv if export == "csv" else answer_jsonl)(answer, meta), nl=False)
        return
    if as_json:
        typer.echo(json.dumps(answer.to_json_dict(), ensure_ascii=False))
        return
    if stream:
        typer.echo("")
    else:
        if answer.notice:
            typer.echo(f"notice: {answer.notice}", err=True)
        typer.echo(answer.text)
    for c in answer.citations:
        page = f"page {c.page}, " if c.page is not None else ""
        typer.echo(f"  [{c.marker}] {c.title} ({c.article_id}, {page}sentence {c.sentence_index}, chars {c.start}-{c.end})")


@app.command("list")
def list_articles(collection: Collection = None, home: Home = None, as_json: AsJson = False) -> None:
    """List the articles in a collection."""
    store = _store(home, collection)
    rows = store.catalogue.list_articles(store.space)
    store.close()
    if as_json:
        for r in rows:
            typer.echo(json.dumps({"id": r.id, "title": r.title, "source": r.source, "published": r.published, "url": r.url, "sentences": r.sentences, "origin": r.origin}, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no articles")
        return
    width = max(len(r.id) for r in rows)
    for r in rows:
        typer.echo(f"{r.id:<{width}}  {r.sentences:>4} sentences  {r.title[:70]}")
    typer.echo(f"{len(rows)} articles")


@app.command()
def claims(
    stance: Annotated[Optional[str], typer.Option("--stance", help="deny, confirm, say, claim, rule_out, accuse, reveal, report, quote, warn, other", show_default=False)] = None,
    speaker: Annotated[Optional[str], typer.Option("--speaker", metavar="NAME", help="Only this speaker's claims: name words ('Reyland', 'the harbour minister', "
                                                   "any case) or canonical key ('tomas reyland')", show_default=False)] = None,
    article: Articles = [],
    source: Sources = [],
    since: Since = None,
    until: Until = None,
    collection: Collection = None,
    home: Home = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per claim per line, grouped by speaker")] = False,
    as_csv: AsCsv = False,
    as_jsonl: AsJsonl = False,
    as_jsonld: Annotated[bool, typer.Option("--jsonld", help="Print the claims as a JSON-LD list of schema.org ClaimReview objects")] = False,
    timeline: Annotated[bool, typer.Option("--timeline", help="With --speaker: that speaker's claims across the collection in date order, "
                                            "with the links that answer them or that they make")] = False,
) -> None:
    """The claims ledger, grouped by canonical speaker: who said, denied, confirmed... what, across the collection."""
    from rag.attribution.render import speaker_phrase
    from rag.attribution.speakers import SpeakerDirectory
    from rag.filters import ledger
    from rag.types import STANCES

    if stance is not None and stance not in STANCES:
        _die(f"unknown stance '{stance}' (choose from {', '.join(STANCES)})")
    filters = _filters(source, since, until, article, speaker)
    export = _one_format(json=as_json, csv=as_csv, jsonl=as_jsonl, jsonld=as_jsonld)
    if timeline:
        _timeline(speaker, home, collection, as_json)
        return
    store = _store(home, collection)
    try:
        directory = SpeakerDirectory(store.catalogue.claims(store.space))
        rows = ledger(store, filters, stance)
        groups = directory.groups(rows)
        if export in ("csv", "jsonl", "jsonld"):
            from rag import export as out

            table = out.ledger_rows(store, [directory.display(c) for g in groups for c in g.claims])
            if export == "jsonld":
                typer.echo(json.dumps(out.claim_reviews(table), ensure_ascii=False, indent=2))
            else:
                typer.echo((out.claims_csv if export == "csv" else out.claims_jsonl)(table), nl=False)
            return
    finally:
        store.close()
    if as_json:
        for g in groups:
            for c in g.claims:
                typer.echo(json.dumps({**c.to_json_dict(), "speaker_key": g.key, "speaker_group": g.name}, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no claims")
        return
    for g in groups:
        roles = f" ({'; '.join(g.roles[:2])})" if g.roles else ""
        typer.echo(f"{g.name or '(unnamed)'}{roles} · {len(g.claims)} claim{'s' * (len(g.claims) != 1)} in {len(g.articles)} article{'s' * (len(g.articles) != 1)}")
        for c in g.claims:
            where = f"{c.article_id}:{','.join(str(i) for i in c.sentence_indexes)}"
            said_as = f" [as {c.speaker_mention}]" if c.speaker_mention and c.speaker_mention != speaker_phrase(c, role=False) else ""
            typer.echo(f"  {c.reads:<16}  {c.cue[:22]:<22}  {c.content[:70]}  ({where}){said_as}")
    typer.echo(f"{len(rows)} claims, {len(groups)} speakers")


def _timeline(speaker: str | None, home: Path | None, collection: str | None, as_json: bool) -> None:
    """``claims --speaker X --timeline``: one speaker's claims in date order, each with its links."""
    from rag.attribution.render import speaker_phrase
    from rag.attribution.timeline import resolve_speaker, timeline

    if not speaker:
        _die("--timeline needs --speaker NAME (a name, its last word, or a key as `whosaid speakers` lists it)")
    store = _store(home, collection)
    try:
        key = resolve_speaker(store, speaker)
        entries = timeline(store, key) if key else []
    finally:
        store.close()
    if key is None:
        _die(f"no one speaker called '{speaker}' (none, or several: give the full name)", 1)
    if as_json:
        for e in entries:
            typer.echo(json.dumps({**e.to_json_dict(), "speaker_group": key}, ensure_ascii=False))
        return
    typer.echo(f"{speaker_phrase(entries[0].claim) if entries else key} · {len(entries)} claim{'s' * (len(entries) != 1)}, in date order")
    for e in entries:
        c = e.claim
        typer.echo(f"{e.published or '(no date)':<10}  {e.source[:22]:<22}  {c.reads:<17}  {c.content[:80]}  ({c.article_id}:{c.sentence_indexes[0]})")
        for x in e.links:
            mine = (x.from_article, x.from_seq) == (c.article_id, e.seq)
            other = (x.to_source, x.to_published, x.to_article, x.to_sentence, x.to_text) if mine else (
                x.from_source, x.from_published, x.from_article, x.from_sentence, x.from_text)
            arrow = f"{x.kind} ->" if mine else f"<- {x.kind} by {x.from_claim.speaker if x.from_claim else '?'}"
            typer.echo(f"{'':<12}{arrow} {other[0]}, {other[1] or '(no date)'} ({other[2]}:{other[3]}): {other[4][:100]}")


@app.command()
def speakers(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Most speakers listed")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many (the next page)")] = 0,
    collection: Collection = None,
    home: Home = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per speaker per line")] = False,
) -> None:
    """The collection's named speakers, most claims first, a page at a time: the keys and names that
    `claims --speaker X --timeline` takes (as GET /api/speakers lists them)."""
    from rag.attribution.timeline import speakers as page

    store = _store(home, collection)
    try:
        rows = page(store, limit, offset)
    finally:
        store.close()
    for r in rows:
        if as_json:
            typer.echo(json.dumps(r.to_json_dict(), ensure_ascii=False))
        else:
            span = f"{r.first} .. {r.last}" if r.first else "(no dates)"
            typer.echo(f"{r.name[:30]:<30}  {r.claims:>5} claims  {r.articles:>4} articles  {span}  [{r.key}]")


@app.command()
def links(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Drop every link and compute them all again (progress bar on stderr)")] = False,
    kind: Annotated[Optional[str], typer.Option("--kind", help="denies, responds or contradicts", show_default=False)] = None,
    article: Annotated[Optional[str], typer.Option("--article", help="Only links with an end in this article", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most links listed")] = 200,
    collection: Collection = None,
    home: Home = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per link per line")] = False,
) -> None:
    """Cross-article links: a denial or response in one article to what another reported, or a speaker
    confirming in one article what they deny in another. Each shows both sentences."""
    from rag.store import StoreBusy
    from rag.types import LINK_KINDS

    if kind is not None and kind not in LINK_KINDS:
        _die(f"unknown kind '{kind}' (choose from {', '.join(LINK_KINDS)})")
    store = _store(home, collection)
    try:
        if rebuild:
            from tqdm import tqdm

            from rag.attribution.links import rebuild_links

            total = store.catalogue.counts(store.space)["articles"]
            with store.writing(), tqdm(total=total, unit="article", desc="links", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
                n = rebuild_links(store, progress=bar.update)
            if not as_json:
                typer.echo(f"{n} links over {total} articles")
        rows = store.catalogue.links(store.space, article_ids=[article] if article else None, kinds=[kind] if kind else None, limit=limit)
    except StoreBusy as e:
        _die(str(e), 3)
    finally:
        store.close()
    if as_json:
        for x in rows:
            typer.echo(json.dumps(x.to_json_dict(), ensure_ascii=False))
        return
    if rebuild:
        return
    if not rows:
        typer.echo("no links")
        return
    for x in rows:
        who = x.from_claim.speaker if x.from_claim else ""
        typer.echo(f"{x.kind} ({x.score:.2f}): {who}, {x.from_source} {x.from_published} ({x.from_article}:{x.from_sentence})")
        typer.echo(f"    {x.from_text[:160]}")
        typer.echo(f"  -> {x.to_source} {x.to_published} ({x.to_article}:{x.to_sentence})")
        typer.echo(f"    {x.to_text[:160]}")
    typer.echo(f"{len(rows)} links")


@app.command()
def delete(
    article_id: Annotated[str, typer.Argument(metavar="ID", help="Article id, as `whosaid list` shows it", show_default=False)],
    collection: Collection = None,
    home: Home = None,
) -> None:
    """Delete an article, its sentences and its vectors."""
    from rag.store import StoreBusy

    store = _store(home, collection)
    try:
        found = store.delete(article_id)
    except StoreBusy as e:
        _die(str(e), 3)
    finally:
        store.close()
    if not found:
        _die(f"no article '{article_id}' in collection '{store.settings.collection}'", 1)
    typer.echo(f"deleted {article_id}")


@app.command()
def doctor(
    check: Annotated[bool, typer.Option("--check", help="Only report; change nothing")] = False,
    collection: Collection = None,
    home: Home = None,
    as_json: AsJson = False,
) -> None:
    """Check that the catalogue, the vectors and the lexical index agree; repair what can be repaired.
    Exit 0 when healthy (or repaired), 1 when a problem remains."""
    from ingest.doctor import doctor as run_doctor
    from rag.store import CatalogueError
    from rag.store import StoreBusy

    store = _store(home, collection)
    try:
        report = run_doctor(store, repair=not check, say=None if as_json else typer.echo, progress=sys.stderr.isatty())
    except StoreBusy as e:
        _die(str(e), 3)
    except CatalogueError as e:
        _die(str(e))
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report.to_json_dict()))
    else:
        c = report.counts
        held = (f"{c['articles']} articles, {c['sentences']} sentences, {c['chunks']} chunks, {c['claims']} claims, "
                f"{c['vectors']} vectors: ") if c else ""
        typer.echo(held + ("healthy" if report.healthy else "problems remain"))
    if not report.healthy:
        raise typer.Exit(1)


@app.command("eval")
def eval_command(
    target: Annotated[list[str], typer.Argument(metavar="SUITE | compare RUN_A RUN_B", help="A suite file, or 'compare' and two run folders", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="auto (by fields), whosaid, or hotpot")] = "auto",
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder (default eval-runs/SUITE); rerunning resumes it", show_default=False)] = None,
    llm: Annotated[bool, typer.Option("--llm/--no-llm", help="Answer with the configured LLM (and judge support with it)")] = False,
    fail_under: Annotated[list[str], typer.Option("--fail-under", metavar="METRIC=VALUE", help="Exit 1 when a metric is below VALUE (repeatable)")] = [],
    fail_over: Annotated[list[str], typer.Option("--fail-over", metavar="METRIC=VALUE", help="Exit 1 when a metric is above VALUE, e.g. misattributed=0 (repeatable)")] = [],
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N questions", show_default=False)] = None,
    home: Home = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr")] = True,
) -> None:
    """Run an eval suite (retrieval, citations, support, answers, latency) and write a report."""
    if target and target[0] == "compare":
        if len(target) != 3:
            _die("usage: whosaid eval compare RUN_A RUN_B")
        _compare(Path(target[1]), Path(target[2]), as_json)
        return
    if len(target) != 1:
        _die("give one suite file (or: whosaid eval compare RUN_A RUN_B)")
    if fmt not in ("auto", "whosaid", "hotpot"):
        _die(f"unknown --format '{fmt}' (auto, whosaid, hotpot)")
    thresholds = {"under": _thresholds("--fail-under", fail_under), "over": _thresholds("--fail-over", fail_over)}
    from evals.links import is_links_suite

    if is_links_suite(Path(target[0])):
        _eval_links(Path(target[0]), out, home, thresholds, as_json, progress)
        return
    from evals.report import write_report
    from evals.runner import LEXICAL_SUPPORT, METRICS, collection_name, ingest_corpus, run_suite
    from evals.suites import SuiteError, load_suite
    from rag.embeddings import embedder_identity, make_embedder
    from rag.engine import Engine
    from rag.llm import make_chat_model
    from rag.store import Store

    known = METRICS + ["latency_p50_ms", "latency_p95_ms"]
    unknown = [(flag, n) for flag, t in thresholds.items() for n in t if n.rpartition(":")[2] not in known]
    if unknown:
        _die(f"unknown metric {unknown[0][1]!r} in --fail-{unknown[0][0]} (choose from {', '.join(METRICS)}; TAG:METRIC for a tag's questions)")
    suite_path = Path(target[0])
    try:
        suite = load_suite(suite_path, fmt, limit)
    except SuiteError as e:
        _die(str(e))
    settings = _settings(home, None)
    chat_model = make_chat_model(settings.llm) if llm else None
    if llm and chat_model is None:
        _die("--llm needs an endpoint: set OPENAI_API_KEY or WHOSAID_LLM_BASE_URL")
    store = Store(settings, make_embedder(settings.embedder, settings.openai_api_key), collection_name(suite))
    ingested = ingest_corpus(suite, store, progress and sys.stderr.isatty())
    engine = Engine(store, chat_model=chat_model, llm=settings.llm)
    run_settings = {
        "suite": str(suite_path), "format": suite.format, "questions": len(suite.questions), "collection": store.space,
        "embedder": embedder_identity(settings.embedder), "k": 10, "answerer": "llm" if chat_model else "extractive",
        "llm_model": settings.llm.model if chat_model else None,
        "support_judge": f"the configured LLM ({settings.llm.model or 'default model'})" if chat_model else LEXICAL_SUPPORT,
        "prices_usd_per_million_tokens": [settings.llm.price_input, settings.llm.price_output] if chat_model else None,
        "ingest": ingested,
    }
    out = out or Path("eval-runs") / suite.name
    results = run_suite(suite, engine, out, progress and sys.stderr.isatty(), run_settings, (settings.llm.price_input, settings.llm.price_output))
    write_report(results, out)
    store.close()
    metrics = results["metrics"]
    if as_json:
        typer.echo(json.dumps(metrics))
    else:
        for k, v in metrics.items():
            typer.echo(f"{k:<22} {v:.3f}" if isinstance(v, float) else f"{k:<22} {v}")
        typer.echo(f"report: {out / 'report.html'}")
    _fail_thresholds(metrics, thresholds)


def _eval_links(path: Path, out: Path | None, home: Path | None, thresholds: dict[str, dict[str, float]], as_json: bool, progress: bool) -> None:
    """A links suite (evals/links.py): its corpus ingested into a temporary home, the links computed
    there, precision and recall against the gold (with a threshold sweep) in the report."""
    import tempfile

    from evals.links import LINK_METRICS, LinksSuiteError, evaluate, load_links_suite
    from evals.report import write_links_report
    from rag.embeddings import embedder_identity, make_embedder
    from rag.store import Store

    unknown = [n for t in thresholds.values() for n in t if n not in LINK_METRICS]
    if unknown:
        _die(f"unknown metric {unknown[0]!r} for a links suite (choose from {', '.join(LINK_METRICS)})")
    try:
        suite = load_links_suite(path)
    except LinksSuiteError as e:
        _die(str(e))
    with tempfile.TemporaryDirectory(prefix="whosaid-links-eval-") as tmp:
        settings = _settings(Path(tmp), "links-eval")
        store = Store(settings, make_embedder(settings.embedder, settings.openai_api_key))
        try:
            results = evaluate(store, suite, progress=progress and sys.stderr.isatty())
        finally:
            store.close()
    results["settings"] = {"suite": str(path), "embedder": embedder_identity(settings.embedder), "links": settings.links.model_dump()}
    out = out or Path("eval-runs") / suite.name
    write_links_report(results, out)
    metrics = results["metrics"]
    if as_json:
        typer.echo(json.dumps(metrics))
    else:
        typer.echo(f"links at threshold {results['threshold']}: precision {metrics['precision']:.3f}, recall {metrics['recall']:.3f}, "
                   f"F1 {metrics['f1']:.3f} ({metrics['predicted']} predicted, {metrics['matched']} of {metrics['gold']} gold found)")
        for kind in ("denies", "responds", "contradicts"):
            k = metrics[kind]
            typer.echo(f"  {kind:<12} precision {k['precision']:.3f}  recall {k['recall']:.3f}  ({k['predicted']} predicted, {k['gold']} gold)")
        typer.echo("threshold  precision  recall  F1     predicted")
        for row in results["sweep"]:
            typer.echo(f"{row['threshold']:<9}  {row['precision']:<9.3f}  {row['recall']:<6.3f}  {row['f1']:<5.3f}  {row['predicted']}")
        typer.echo(f"report: {out / 'report.html'}")
    flat = {**{k: v for k, v in metrics.items() if not isinstance(v, dict)},
            **{f"{kind}:{m}": v for kind, d in metrics.items() if isinstance(d, dict) for m, v in d.items()}}
    _fail_thresholds(flat, thresholds)


def _fail_thresholds(metrics: dict, thresholds: dict[str, dict[str, float]]) -> None:
    """One line per metric past its --fail-under/--fail-over threshold (a missing metric fails), then exit 1."""
    failed = [(n, metrics.get(n), "<", v) for n, v in thresholds["under"].items() if metrics.get(n) is None or metrics[n] < v]
    failed += [(n, metrics.get(n), ">", v) for n, v in thresholds["over"].items() if metrics.get(n) is None or metrics[n] > v]
    for name, got, sign, want in failed:
        typer.echo(f"fail: {name} {got if got is None else round(got, 4)} {sign} {want}", err=True)
    if failed:
        raise typer.Exit(1)


def _thresholds(flag: str, items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            _die(f"{flag} wants METRIC=VALUE, got '{item}'")
    return out


def _compare(a: Path, b: Path, as_json: bool) -> None:
    from evals.report import compare

    runs = []
    for run in (a, b):
        f = run / "results.json" if run.is_dir() else run
        if not f.is_file():
            _die(f"{f}: no results.json (run `whosaid eval SUITE --out {run}` first)")
        runs.append(json.loads(f.read_text()))
    deltas, worse = compare(*runs)
    if as_json:
        typer.echo(json.dumps({"deltas": {k: {"a": va, "b": vb, "delta": d} for k, va, vb, d in deltas}, "worse": worse}))
        return
    for k, va, vb, d in deltas:
        typer.echo(f"{k:<22} {va!s:>10} -> {vb!s:<10} {'' if d is None else f'{d:+.4f}'}")
    typer.echo(f"{len(worse)} questions got worse")
    for w in worse:
        typer.echo(f"  {w['id']}: {w['question'][:70]}  " + ", ".join(f"{m} {x:.2f}->{y:.2f}" for m, (x, y) in w["drops"].items()))


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option("--host", help="Address to listen on (default $WHOSAID_HOST or 127.0.0.1)", show_default=False)] = None,
    port: Annotated[Optional[int], typer.Option("--port", min=1, max=65535, help="Port (default $WHOSAID_PORT or 7860)", show_default=False)] = None,
    collection: Collection = None,
    home: Home = None,
) -> None:
    """Serve the JSON API (POST /api/ask, /api/ask/stream, GET /api/claims, /api/articles/ID, /healthz, /docs)."""
    import uvicorn

    from ui.server import create_app

    settings = _settings(home, collection)
    server = settings.server
    host, port = host or server.host, port or server.port
    sock = _listen(host, port)  # bound before anything is announced: a taken port is one clear line
    app_ = create_app(settings)
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}{server.root_path}"
    typer.echo(f"whosaid: serving the chat at {base}/chat (widget demo at {base}/embed-demo, API docs at {base}/docs); "
               "Ctrl-C stops", err=True)
    config = uvicorn.Config(app_, root_path=server.root_path, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def _listen(host: str, port: int):
    """A socket bound to host:port, or one line saying why not (exit 3)."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        _die(f"cannot listen on {host}:{port}: unknown host ({e.strerror})", 3)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)  # connections made once the address is announced wait in the backlog
    except OSError as e:
        sock.close()
        reason = "the port is already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        _die(f"cannot listen on {host}:{port}: {reason}", 3)
    sock.set_inheritable(True)
    return sock


def main() -> None:
    import sqlite3

    try:
        app(standalone_mode=True)
    except sqlite3.DatabaseError as e:  # a damaged catalogue file: one line, whatever the command
        typer.echo(f"whosaid: the catalogue cannot be read ({e}); see `whosaid doctor`, then restore a backup "
                   "or move catalogue.sqlite3 away and ingest again", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
