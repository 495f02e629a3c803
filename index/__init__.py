"""Articles in: reading, sentence splitting, embedding, and the FAISS + SQLite index."""
