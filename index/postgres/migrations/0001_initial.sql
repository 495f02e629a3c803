-- Articles, sentences with their vectors and words, bookkeeping; conversations.
-- Vector columns take any dimension: the HNSW index over them is made for the model's
-- dimension at the first write (index/postgres/store.py), as an expression index.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('generation', '0');

CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT,
    url TEXT,
    published TEXT,
    published_at DOUBLE PRECISION,
    text_hash TEXT NOT NULL,
    ingested_at DOUBLE PRECISION NOT NULL,
    title_vector BYTEA
);
CREATE INDEX articles_by_source ON articles (lower(source));
CREATE INDEX articles_by_date ON articles (published_at);

-- Sentence ids are never reused, so a reader holding an old id cannot mistake another row.
CREATE SEQUENCE sentence_ids;
CREATE TABLE sentences (
    id BIGINT PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    clause_vectors BYTEA,
    raw vector NOT NULL,
    context vector NOT NULL,
    -- BM25 needs each sentence's length in words (stop words included, as FTS5 counts them)
    words INTEGER NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    UNIQUE (article_id, position)
);
CREATE INDEX sentences_words ON sentences USING gin (tsv);

CREATE TABLE conversations (
    owner TEXT NOT NULL,
    id TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    focus_article TEXT,
    PRIMARY KEY (owner, id)
);
CREATE INDEX conversations_by_age ON conversations (owner, updated);
CREATE TABLE turns (
    owner TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    turn INTEGER NOT NULL,
    question TEXT NOT NULL,
    article_id TEXT,
    ranked TEXT NOT NULL,
    shown INTEGER NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (owner, conversation_id, turn),
    FOREIGN KEY (owner, conversation_id) REFERENCES conversations (owner, id) ON DELETE CASCADE
);

