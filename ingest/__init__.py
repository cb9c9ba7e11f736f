"""Loading, splitting, chunking and storing articles (builds on ``rag``)."""
