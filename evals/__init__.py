"""Evaluation suites (grows in the evals issue)."""
