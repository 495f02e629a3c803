"""News from the web: fetching safely, extracting article pages, following feeds."""
