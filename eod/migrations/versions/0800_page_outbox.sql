-- Pages leave through a durable queue (CONTRACT section 8): a page is written in the
-- transaction of what it reports (a freeze, a failed step's record), so a pager outage
-- delays a page, never a freeze, a posting or the close. The close's end and
-- `eod serve` deliver what is due, retrying with exponential backoff under the same
-- dedup_key until the pager accepts it (eod/paging/outbox.py).
create table if not exists eod.page_outbox (
    page_id bigint generated always as identity primary key,
    dedup_key text not null,
    -- the Events v2 payload: summary, source, severity, custom_details (the routing
    -- key is the deployment's, added when sent)
    payload jsonb not null,
    created_at timestamptz not null default now(),
    attempts integer not null default 0,
    last_attempt_at timestamptz,
    next_attempt_at timestamptz not null default now(),
    last_error text,
    accepted_at timestamptz,
    -- the pager answered 4xx: the event itself is wrong, sending it again cannot help
    refused_at timestamptz
);

create index if not exists page_outbox_due_idx on eod.page_outbox (next_attempt_at)
    where accepted_at is null and refused_at is null;
