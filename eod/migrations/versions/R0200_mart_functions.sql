-- The SQL functions the marts call, in one place. This repeatable migration is their
-- only home: `eod db migrate` re-applies it whenever it changes, and dbt never creates
-- a function, so the role that builds the marts (eod_runner, R0400) needs no right to
-- create one, and the SECURITY DEFINER function over the proof-of-reserves key is
-- created by the migrator, which owns that key (0200).
--
--   eod.weighted_average_cost      aggregate folding trades into cost and P&L (fct_daily_pnl)
--   eod.weighted_average_cost_step its state transition
--   eod.por_nonces                 every user's nonce of a date, over the stored key
--                                  (SECURITY DEFINER; user_balance_snapshots, por_leaf_hash)
--   eod.por_user_nonces            view: the nonce of every captured (date, user), read
--                                  through its owner's right to the key (user_balance_snapshots
--                                  on Citus)
--   eod.por_key_missing            its refusal when no key is stored
--   eod.por_leaf                   one leaf hash from its nonce (user_balance_snapshots)
--   eod.por_leaf_hash              one leaf, checked, for callers outside the models
--
-- Every statement is `create or replace`, with the signature kept: re-applying this
-- file replaces the bodies in place, and the grants on them stay.


-- Weighted-average cost (CONTRACT section 6), folded in (executed_at, trade_id) order:
-- eod.weighted_average_cost(side, qty, price_usdt, beyond_price, counts, q0, c0). Its
-- state is {position_qty, avg_cost, realised_pnl}; q0/c0 seed it with the position
-- carried from D-1.
--   A buy of x at p: cost (q*c + x*p)/(q + x), rounded to 18 decimals.
--   A sell of x at p: realises min(x, q) * (p - c); the part beyond q realises against
--   beyond_price (the mark of D-1, or p when there is none); the position never goes
--   below zero and its cost resets to 0 when it reaches zero.
--   `counts` is false for trades before D, which only build the position.
create or replace function eod.weighted_average_cost_step(
    state numeric[], side text, qty numeric, price numeric, beyond_price numeric,
    counts boolean, q0 numeric, c0 numeric
) returns numeric[]
language plpgsql immutable as $fn$
declare
    q numeric := coalesce(state[1], q0, 0);
    c numeric := coalesce(state[2], c0, 0);
    r numeric := coalesce(state[3], 0);
    matched numeric;
begin
    if side = 'buy' then
        c := round((q * c + qty * price) / (q + qty), 18);
        q := q + qty;
    else
        matched := least(qty, q);
        if counts then
            r := r + matched * (price - c)
                + (qty - matched) * (price - coalesce(beyond_price, price));
        end if;
        q := q - matched;
        if q = 0 then
            c := 0;
        end if;
    end if;
    return array[q, c, r];
end
$fn$;

create or replace aggregate eod.weighted_average_cost(
    text, numeric, numeric, numeric, boolean, numeric, numeric
) (
    sfunc = eod.weighted_average_cost_step,
    stype = numeric[]
);


-- Proof-of-reserves leaves (CONTRACT section 7) without a per-row call into the key.
-- Only the nonce needs the secret, and it depends on (D, user) alone: eod.por_nonces
-- derives every user's nonce of D in one SECURITY DEFINER call over the HMAC pads of
-- eod.por_key (which only their owner can read), and eod.por_leaf, a plain SQL function
-- Postgres inlines, hashes each (user, currency) leaf from it. The secret never
-- appears in dbt's SQL, logs or artifacts.
-- nonce = hex sha256(outer_pad || sha256(inner_pad || 'D:user_id')) = HMAC-SHA256.
create or replace function eod.por_nonces(business_date date, user_ids bigint[])
returns table (user_id bigint, nonce text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    pads eod.por_key;
    day_prefix text := to_char(business_date, 'YYYY-MM-DD') || ':';
begin
    select * into pads from eod.por_key where key_id = 1;
    if not found then
        raise exception 'the proof-of-reserves key is not stored (eod.por_key.store_por_key)'
            using errcode = 'no_data_found';
    end if;
    return query
        select ids.id,
               encode(sha256(pads.outer_pad || sha256(
                   pads.inner_pad || convert_to(day_prefix || ids.id::text, 'UTF8')
               )), 'hex')
        from unnest(user_ids) as ids (id);
end
$$;

-- The nonce of every (D, user) the registry capture holds, derived where the balances
-- are: on Citus (the var `citus` of user_balance_snapshots) each shard derives its own
-- users' nonces beside their balances, rather than gathering every user id on the
-- coordinator for one eod.por_nonces call. A view the migrator owns reads the pads for
-- its reader (eod_runner, granted in R0400), who sees the nonces only (the same HMAC as
-- eod.por_nonces). Grouped per (D, user), so a reader joining it to the balances
-- derives each nonce once per user, not once per balance.
-- Without a stored key, reading a nonce fails, as eod.por_nonces does. The refusal
-- takes the row's user so that it is called for a row, only when the key is missing: a
-- call without arguments would be folded into a constant (by Postgres for an IMMUTABLE
-- one; Citus evaluates a STABLE one on the coordinator before it sends a query on).
create or replace function eod.por_key_missing(user_id bigint) returns text
language plpgsql stable
as $$
begin
    raise exception 'the proof-of-reserves key is not stored (eod.por_key.store_por_key)'
        using errcode = 'no_data_found';
end
$$;

create or replace view eod.por_user_nonces as
select
    balances.business_date,
    balances.user_id,
    case
        when pads.key_id is null then eod.por_key_missing(balances.user_id)
        else encode(sha256(pads.outer_pad || sha256(
            pads.inner_pad
            || convert_to(
                to_char(balances.business_date, 'YYYY-MM-DD') || ':' || balances.user_id::text,
                'UTF8'
            )
        )), 'hex')
    end as nonce
from eod.me_balances as balances
left join eod.por_key as pads on pads.key_id = 1
group by balances.business_date, balances.user_id, pads.key_id;
revoke all on eod.por_user_nonces from public;

-- leaf hash = hex sha256('leaf|nonce|user_id|currency|units'), units an integer in base units.
-- STABLE, as convert_to is: Postgres inlines a SQL function only when its declared
-- volatility covers its body's, and a call per leaf costs three times the hash.
create or replace function eod.por_leaf(nonce text, user_id bigint, currency text, units numeric)
returns text
language sql stable parallel safe
as $$
    select encode(sha256(convert_to(
        'leaf|' || nonce || '|' || user_id::text || '|' || currency || '|'
        || trunc(units)::numeric(78, 0)::text,
        'UTF8'
    )), 'hex')
$$;

-- One leaf, checked, for callers outside the models (tests, support queries).
create or replace function eod.por_leaf_hash(
    business_date date, user_id bigint, currency text, units numeric
) returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
    if units is null or units < 0 or units <> trunc(units) then
        raise exception 'leaf units must be a non-negative integer, got %', units
            using errcode = 'invalid_parameter_value';
    end if;
    return eod.por_leaf(
        (select n.nonce from eod.por_nonces(business_date, array[user_id]) as n),
        user_id, currency, units
    );
end
$$;
