"""The shared backend: articles, sentences, vectors (pgvector), conversations and jobs in
PostgreSQL, so that any number of processes on any machines serve one index."""
