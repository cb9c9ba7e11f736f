"""Question in, cited :class:`Answer` out: evidence (claims ledger or retrieval), an answerer (the
LLM when one is configured, else extractive), then verification by code. ``stream`` yields events as
the answer is produced; ``ask`` returns the final answer.
"""

from __future__ import annotations

import re
import time
from typing import Iterator, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from rag.attribution.answer import AttributionAnswerer
from rag.attribution.lexicon import load_lexicon
from rag.citations import resolve
from rag.embeddings import Embedder, make_embedder
from rag.filters import FilterResolver, Filters
from rag.extractive import ABSTAIN_TEXT, AnswerInput, Draft, extractive_answerer
from rag.llm import make_chat_model
from rag.llm_answer import Statement, rewrite_question, stream_answer
from rag.retrieve import HybridSearch
from rag.settings import LLMSettings, Settings
from rag.store import Store
from rag.types import Answer, Candidate, Citation, Claim, DeltaEvent, DoneEvent, Event, NoticeEvent, StatementEvent, StatementResult
from rag.verify import verify_statement


class Engine:
    """Holds the store and answerers for one collection; build one per process and reuse it."""

    def __init__(
        self,
        store: Store,
        answerer: Runnable[AnswerInput, Draft] | None = None,
        chat_model: BaseChatModel | None = None,
        llm: LLMSettings | None = None,
    ) -> None:
        self.store = store
        self.search = HybridSearch(store)
        self.filters = FilterResolver(store)
        settings = store.settings
        self.attribution = AttributionAnswerer(store, load_lexicon(settings.claims.lexicon), settings.attribution, self.filters)
        self.answerer = answerer or extractive_answerer(store.settings.answer)
        self.chat_model = chat_model
        self.llm = llm or store.settings.llm

    @classmethod
    def open(
        cls, settings: Settings, collection: str | None = None, embedder: Embedder | None = None, use_llm: bool = True
    ) -> "Engine":
        embedder = embedder or make_embedder(settings.embedder, settings.openai_api_key)
        chat_model = make_chat_model(settings.llm) if use_llm else None
        return cls(Store(settings, embedder, collection), chat_model=chat_model, llm=settings.llm)

    def ask(
        self, question: str, k: int | None = None, history: Sequence[tuple[str, str]] = (), filters: Filters | None = None,
    ) -> Answer:
        for event in self.stream(question, k, history, filters):
            if isinstance(event, DoneEvent):
                return event.answer
        raise RuntimeError("the answer stream ended without an answer")  # pragma: no cover

    def stream(
        self, question: str, k: int | None = None, history: Sequence[tuple[str, str]] = (), filters: Filters | None = None,
    ) -> Iterator[Event]:
        """The answer's events; with ``filters``, answered only from the articles (and the speaker's
        claims) they match, the restriction applied before anything is ranked."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        notice: str | None = None
        question = clean_text(question)
        history = [(clean_text(role), clean_text(text)) for role, text in history]
        standalone = question
        if history and self.chat_model is not None:
            try:
                standalone = rewrite_question(self.chat_model, question, history)
            except Exception as e:  # noqa: BLE001 - a failed rewrite still answers the question as asked
                notice = f"Could not rewrite the follow-up question ({_reason(e)}); answered it as asked."
            timings["rewrite"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        scope = None
        if filters is not None and filters.active:
            scope = self.filters.resolve(filters, self.attribution.speakers())
            timings["filters"] = (time.perf_counter() - t1) * 1000
            if scope.empty:  # never an unfiltered answer in its place
                timings["total"] = (time.perf_counter() - t0) * 1000
                yield DeltaEvent(text=scope.no_match())
                yield DoneEvent(answer=Answer(question=question, text=scope.no_match(), abstained=True, timings=timings, notice=notice))
                return
        # Attribution questions take their evidence from the claims ledger; others from retrieval.
        ledger = self.attribution.answer(standalone, scope)
        if ledger is not None and ledger.abstained:
            # an attribution question the ledger cannot answer abstains and says what was not found;
            # free retrieval would quote whatever sentence is closest, possibly someone else's claim
            said = ledger.text if standalone == question or self._grounded(standalone, question, history) else ABSTAIN_TEXT
            if scope is not None:
                said += f" (Filters: {scope.filters.describe()}.)"
            timings["claims"] = timings["total"] = (time.perf_counter() - t0) * 1000
            yield DeltaEvent(text=said)
            yield DoneEvent(answer=Answer(question=question, text=said, abstained=True, timings=timings, notice=notice))
            return
        if ledger is not None and ledger.documents:
            shown, draft, claims = self.search.candidates(standalone, k, timings, articles=ledger.documents), None, []
        elif ledger is not None:
            shown, draft, claims = ledger.shown, Draft(text=ledger.text), ledger.claims
            timings["claims"] = (time.perf_counter() - t1) * 1000
        elif not self.store.lexical().terms(standalone):
            # "Who?", "Why?", "What about him?": nothing to look for, so nothing to cite
            timings["total"] = (time.perf_counter() - t0) * 1000
            yield DeltaEvent(text=ABSTAIN_TEXT)
            yield DoneEvent(answer=Answer(question=question, text=ABSTAIN_TEXT, abstained=True, timings=timings, notice=NOTHING_ASKED))
            return
        else:
            within = None if scope is None else scope.articles
            shown, draft, claims = self.search.candidates(standalone, k, timings, within=within), None, []
        timings["retrieve"] = (time.perf_counter() - t1) * 1000

        if self.chat_model is not None and shown:
            try:
                answer = yield from self._llm(standalone, shown, claims, timings)
                answer.question, answer.notice = question, notice
                answer.timings["total"] = (time.perf_counter() - t0) * 1000
                yield DoneEvent(answer=answer)
                return
            except Exception as e:  # noqa: BLE001 - any endpoint or output failure falls back, visibly
                notice = f"The language model could not answer ({_reason(e)}); showing the extractive answer."
                yield NoticeEvent(text=notice, reset=True)

        t2 = time.perf_counter()
        if draft is None:
            draft = self.answerer.invoke(AnswerInput(question=standalone, candidates=shown))
        text, citations = resolve(draft.text, shown)
        abstained = draft.abstained or not citations
        if abstained:
            text, citations, claims = ABSTAIN_TEXT, [], []
        timings["answer"] = (time.perf_counter() - t2) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        yield DeltaEvent(text=text)
        answer = Answer(
            question=question, text=text, citations=citations, claims=claims, abstained=abstained,
            mode=draft.mode, timings=timings, notice=notice,
        )
        yield DoneEvent(answer=answer)

    def _grounded(self, rewritten: str, question: str, history: Sequence[tuple[str, str]]) -> bool:
        """Every word of a rewritten question comes from the conversation. A "not found" answer echoes
        the question's words; those a model brought in itself (a compromised one's "ignore previous
        instructions") are never echoed."""
        lexical = self.store.lexical()
        known = set(lexical.terms(question)).union(*(lexical.terms(text) for _, text in history))
        return set(lexical.terms(rewritten)) <= known

    def _llm(
        self, question: str, shown: list[Candidate], claims: list[Claim], timings: dict[str, float]
    ) -> Iterator[Event]:
        """Stream the model's statements, verifying each as it completes; return the Answer."""
        lexical = self.store.lexical()
        results: list[StatementResult] = []
        cited: dict[int, Citation] = {}
        parts: list[str] = []
        model_ms = verify_ms = 0.0
        usage: dict[str, int] = {}
        t = time.perf_counter()
        for kind, payload in stream_answer(self.chat_model, question, shown, claims, self.llm.citations):
            now = time.perf_counter()
            model_ms += (now - t) * 1000
            if kind == "delta":
                pass  # the model's raw text is never streamed: only a statement's verified text is
            elif kind == "usage":
                for key, n in dict(payload).items():  # type: ignore[call-overload]
                    usage[key] = usage.get(key, 0) + n
            else:
                assert isinstance(payload, Statement)
                result, citations = verify_statement(payload.text, payload.citations, shown, lexical)
                results.append(result)
                if citations and result.text:
                    yield DeltaEvent(text=(" " if parts else "") + result.text)
                yield StatementEvent(index=len(results) - 1, text=result.text, citations=citations, supported=result.supported)
                if citations and result.text:
                    parts.append(result.text + " " + "".join(f"[{c.marker}]" for c in citations))
                    for c in citations:
                        cited.setdefault(c.marker, c)
            t = time.perf_counter()
            verify_ms += (t - now) * 1000
        timings["llm"] = model_ms
        timings["verify"] = verify_ms
        abstained = not any(r.supported for r in results)
        used = {c.sentence_id for c in cited.values()}
        return Answer(
            question=question,
            text=ABSTAIN_TEXT if abstained else " ".join(parts),
            citations=[] if abstained else sorted(cited.values(), key=lambda c: c.marker),
            claims=[] if abstained else [c for c in claims if used & set(c.sentence_ids)],
            statements=results,
            abstained=abstained,
            mode="llm",
            timings=timings,
            usage=usage or None,
        )


ANSWER_FAILED = "whosaid could not answer this question (an internal error; the server log has the details)."
NOTHING_ASKED = "The question names nothing to look for: ask about a person, an organisation, a place or a topic."
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def clean_text(text: str) -> str:
    """Text any part of the pipeline can take: no lone surrogates (a JSON body may carry them, and
    no tokenizer encodes them), no control characters."""
    return _CONTROL.sub(" ", text.encode("utf-8", "replace").decode("utf-8")) if text else ""


def _reason(e: BaseException) -> str:
    """A short, human reason for a failed model call."""
    import openai

    from rag.llm_answer import MalformedOutput

    text = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
    if isinstance(e, openai.APITimeoutError):
        return "the request timed out"
    if isinstance(e, openai.APIConnectionError):
        return "could not connect to the endpoint"
    if isinstance(e, openai.APIStatusError):
        return f"HTTP {e.status_code}" + (" rate limited" if e.status_code == 429 else "")
    if isinstance(e, MalformedOutput):
        return f"malformed output: {text}"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
