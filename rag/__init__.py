"""whosaid's core: types, settings, stores, embeddings, retrieval and answering.

Nothing in here imports from ``ingest``, ``ui`` or ``evals``: they build on this package.
"""
