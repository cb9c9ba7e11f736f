"""Attribution: the lexicon of reporting words, question parsing, speaker matching and answers from
the claims ledger. One subsystem used by extraction (``ingest.claims``) and by the engine."""
