-- Pages and feeds: followed feeds and their entries, signatures of web articles and the copies
-- found of them (index/web/state.py and dupes.py keep the same in the embedded SQLite file).
CREATE TABLE web_feeds (
    id BIGSERIAL PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    title TEXT,
    interval_s DOUBLE PRECISION NOT NULL,
    added_at DOUBLE PRECISION NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_poll DOUBLE PRECISION,
    last_ok DOUBLE PRECISION,
    next_poll DOUBLE PRECISION NOT NULL,
    last_error TEXT,
    failures INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE web_feed_entries (
    feed_id BIGINT NOT NULL REFERENCES web_feeds (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    link TEXT NOT NULL,
    version TEXT NOT NULL,
    published TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    article_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    seen_at DOUBLE PRECISION NOT NULL,
    done_at DOUBLE PRECISION,
    seq BIGSERIAL,  -- the order entries were first seen in (SQLite's rowid)
    PRIMARY KEY (feed_id, key)
);
CREATE INDEX web_feed_entries_pending ON web_feed_entries (feed_id, state);
CREATE TABLE web_signatures (
    article_id TEXT PRIMARY KEY,
    minhash BYTEA NOT NULL,
    seq BIGSERIAL UNIQUE  -- renewed on every write, so readers take in what is new since
);
CREATE TABLE web_copies (
    article_id TEXT NOT NULL,
    copy_id TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT,
    url TEXT,
    published TEXT,
    seen_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (article_id, copy_id)
);
