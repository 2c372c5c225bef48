-- Finance reads the marts and nothing else (CONTRACT section 6): the role is
-- cluster-wide, so it is created once and tolerated when it exists. dbt grants SELECT on
-- each mart (+grants); the schema usage is granted here.
do $$
begin
    create role finance_reader nologin;
exception
    when duplicate_object then null;
end
$$;

create schema if not exists marts;
grant usage on schema marts to finance_reader;

-- Failing rows of the close's data tests, kept per business date and test (dbt's
-- store_failures tables hold only the last run). Written by the on-run-end macro
-- store_test_failures.
create schema if not exists audit;
create table if not exists audit.test_failures (
    business_date date not null,
    test_name text not null,
    failure jsonb not null,
    recorded_at timestamptz not null default now()
);
create index if not exists test_failures_key_idx on audit.test_failures (business_date, test_name);
