-- Leaf hashes for a whole business date without a per-row call into the key. Only the
-- nonce needs the secret, and it depends on (D, user) alone: eod.por_nonces derives
-- every user's nonce of D in one SECURITY DEFINER call, and eod.por_leaf, a plain SQL
-- function Postgres inlines, hashes each (user, currency) leaf from it.
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

-- One leaf, checked, for callers outside the model (tests, support queries).
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
