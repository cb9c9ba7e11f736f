"""Claim extraction: who said, denied, confirmed... what. See :mod:`ingest.claims.constructions` for
the registry of constructions (the one place to add one) and :mod:`ingest.claims.extract` for the
extractor and the extraction version."""

from ingest.claims.extract import SPACY_MODEL, ClaimExtractor, extraction_version

__all__ = ["SPACY_MODEL", "ClaimExtractor", "extraction_version"]
