"""Answering: retrieval, fusion, conversations, evaluation and benchmarks over the index."""
