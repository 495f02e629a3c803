"""The HTTP API and the web chat page (FastAPI); start it with `newsqa serve`."""
