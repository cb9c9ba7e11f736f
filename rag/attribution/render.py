"""How a claim reads, in one place: answers, the CLI ledger, the API's rows, the chat's table and the
LLM prompt all write a claim with these functions (and :attr:`rag.types.Claim.reads`, its stance as a
phrase), so a negated claim always reads as a negation: "did not deny", never "deny"."""

from __future__ import annotations

from rag.types import Claim

UNNAMED = "An unnamed source"


def speaker_phrase(claim: Claim, role: bool = True) -> str:
    """The resolved speaker, with the role the article gives ('Tomas Reyland (Valdoria's harbour minister)')."""
    name = claim.speaker or UNNAMED
    if role and claim.speaker_role and claim.speaker_role.lower() not in name.lower():
        return f"{name} ({claim.speaker_role})"
    return name


def party_phrase(claim: Claim) -> str:
    """Who was told or quoted: ' to Radio Nord', '; quoting Viktor Halm'."""
    if not claim.other_party:
        return ""
    return f"; quoting {claim.other_party}" if claim.stance == "quote" else f" {claim.other_party}"


def claim_line(claim: Claim, markers: str = "") -> str:
    """``speaker — stance (cue) — content [n][m]``: one line of an attribution answer."""
    line = f"{speaker_phrase(claim)} — {claim.reads} ({claim.cue}{party_phrase(claim)}) — {claim.content}"
    return f"{line} {markers}".rstrip()
