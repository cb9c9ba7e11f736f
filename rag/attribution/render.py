"""How a claim reads, in one place: answers, the CLI ledger, the API's rows, the chat's table and the
LLM prompt all write a claim with these functions (and :attr:`rag.types.Claim.reads`, its stance as a
phrase), so a negated claim always reads as a negation: "did not deny", never "deny"."""

from __future__ import annotations

from typing import Callable

from rag.types import Claim

UNNAMED = "An unnamed source"


def speaker_phrase(claim: Claim, role: bool = True) -> str:
    """The resolved speaker, with the role the article gives ('Tomas Reyland (Valdoria's harbour minister)')."""
    name = claim.speaker or UNNAMED
    if role and claim.speaker_role and claim.speaker_role.lower() not in name.lower():
        return f"{name} ({claim.speaker_role})"
    return name


def claim_line(claim: Claim, markers: str = "", quote: Callable[[str], str] = str) -> str:
    """``speaker — stance (cue) — content [n][m]``: one line of an attribution answer (the cue is left
    out when it reads as the stance already: "— did not deny —"). ``quote`` wraps the article's own
    words (speaker, cue, party, content), as the LLM prompt does to keep them data."""
    line = f"{quote(speaker_phrase(claim))} — {said_phrase(claim, quote)}"
    return f"{line} {markers}".rstrip()


def said_phrase(claim: Claim, quote: Callable[[str], str] = str) -> str:
    """``stance (cue) — content``: a claim without its speaker, for a view that groups claims by speaker
    (the chat's attribution answers)."""
    party = ""
    if claim.other_party:
        party = f"; quoting {quote(claim.other_party)}" if claim.stance == "quote" else f" {quote(claim.other_party)}"
    cue = "" if claim.cue.lower() == claim.reads and not party else f" ({quote(claim.cue)}{party})"
    return f"{claim.reads}{cue} — {quote(claim.content)}"
