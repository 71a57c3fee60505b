-- Saga instances, their history, and the inbox of correlated events they
-- wait for. See package saga.
CREATE TABLE {{schema}}.sagas (
    id               uuid PRIMARY KEY,
    saga_type        text NOT NULL,
    correlation_id   text NOT NULL,
    state            jsonb NOT NULL,
    status           text NOT NULL,
    step             int NOT NULL DEFAULT 0,
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    wait_deadline    timestamptz,
    lease_owner      text,
    lease_expires_at timestamptz,
    version          bigint NOT NULL DEFAULT 1,
    last_error       text NOT NULL DEFAULT '',
    started_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sagas_correlation_key UNIQUE (saga_type, correlation_id)
);
-- What the executors poll: runnable instances by due time.
CREATE INDEX sagas_due ON {{schema}}.sagas (next_attempt_at)
    WHERE status IN ('running', 'waiting', 'compensating');
CREATE INDEX sagas_by_status ON {{schema}}.sagas (saga_type, status, id);

CREATE TABLE {{schema}}.saga_history (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    saga_id  uuid NOT NULL REFERENCES {{schema}}.sagas (id) ON DELETE CASCADE,
    step     text NOT NULL,
    phase    text NOT NULL,
    attempt  int NOT NULL,
    outcome  text NOT NULL,
    error    text NOT NULL DEFAULT '',
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX saga_history_by_saga ON {{schema}}.saga_history (saga_id, seq);

-- Correlated events for wait steps, kept until the instance consumes them
-- (they may arrive before it reaches the step).
CREATE TABLE {{schema}}.saga_inbox (
    saga_type      text NOT NULL,
    correlation_id text NOT NULL,
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    event_tx       xid8 NOT NULL,
    event_pos      bigint NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (saga_type, correlation_id, event_id)
);
