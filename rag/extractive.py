"""The offline default answerer: quotes the candidate sentences that answer the question.

No model call: it trusts the retrieval scores, quotes the best sentence (and close runners-up, and
another article's best sentence when it is nearly as good), and abstains when even the best
sentence is not relevant enough.
"""

from __future__ import annotations

from typing import Sequence

from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, Field

from rag.settings import AnswerSettings
from rag.types import Candidate

ABSTAIN_TEXT = "The articles do not say."


class AnswerInput(BaseModel):
    question: str
    candidates: list[Candidate] = Field(description="The sentences shown, numbered [1..n] in this order")


class Draft(BaseModel):
    """An answerer's output before citation checking: text with ``[n]`` markers."""

    text: str
    abstained: bool = False
    mode: str = "extractive"


def extract(question: str, candidates: Sequence[Candidate], settings: AnswerSettings) -> Draft:
    """Quote the best sentences, each followed by its marker; abstain when nothing is relevant."""
    if not candidates or candidates[0].score < settings.min_score:
        return Draft(text=ABSTAIN_TEXT, abstained=True)
    best = candidates[0].score
    chosen = [
        n
        for n, c in enumerate(candidates, start=1)
        if c.score >= max(settings.min_score, settings.relative * best)
    ][: settings.max_sentences]
    # a two-part question is answered from two articles ("the director of film X" is named in one,
    # born in the other): another article's best sentence joins when it is nearly as good
    quoted = {candidates[n - 1].sentence.article_id for n in chosen}
    other = next((n for n, c in enumerate(candidates, start=1) if c.sentence.article_id not in quoted), None)
    if other is not None and candidates[other - 1].score >= max(settings.min_score, settings.second_article * best):
        chosen = sorted(chosen + [other])
    return Draft(text=" ".join(f"{candidates[n - 1].sentence.text} [{n}]" for n in chosen))


def extractive_answerer(settings: AnswerSettings) -> Runnable[AnswerInput, Draft]:
    """The extractive answerer as a LangChain Runnable (composable like the LLM answerer)."""
    return RunnableLambda(lambda inp: extract(inp.question, inp.candidates, settings), name="extractive_answerer")
