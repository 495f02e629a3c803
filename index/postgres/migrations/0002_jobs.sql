-- Rebuild jobs, so that any replica can report a job another replica runs.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,  -- the job as JSON (qa.job_records)
    -- renewed by the replica running it at each progress report; a running job whose replica
    -- went silent is reported as failed
    heartbeat DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX jobs_by_age ON jobs (created_at);
