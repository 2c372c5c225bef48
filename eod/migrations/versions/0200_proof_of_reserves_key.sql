-- The proof-of-reserves key, kept where dbt's SQL cannot show it (CONTRACT section 7).
-- The close stores the HMAC pads derived from EOD_POR_SECRET (eod.por_key.store_por_key)
-- before dbt runs; user_balance_snapshots calls eod.por_leaf_hash, a SECURITY DEFINER
-- function that reads them. The secret never appears in compiled SQL, logs or artifacts,
-- and only the table's owner can read the pads.

create table if not exists eod.por_key (
    key_id int primary key,
    inner_pad bytea not null check (length(inner_pad) = 64),
    outer_pad bytea not null check (length(outer_pad) = 64)
);
revoke all on eod.por_key from public;

-- nonce = hex HMAC-SHA256(key, 'D:user_id') = sha256(outer_pad || sha256(inner_pad || message));
-- leaf hash = hex sha256('leaf|nonce|user_id|currency|units'), units an integer in base units.
create or replace function eod.por_leaf_hash(
    business_date date, user_id bigint, currency text, units numeric
) returns text
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    pads eod.por_key;
    nonce text;
begin
    select * into pads from eod.por_key where key_id = 1;
    if not found then
        raise exception 'the proof-of-reserves key is not stored (eod.por_key.store_por_key)'
            using errcode = 'no_data_found';
    end if;
    if units is null or units < 0 or units <> trunc(units) then
        raise exception 'leaf units must be a non-negative integer, got %', units
            using errcode = 'invalid_parameter_value';
    end if;
    nonce := encode(
        sha256(pads.outer_pad || sha256(
            pads.inner_pad
            || convert_to(to_char(business_date, 'YYYY-MM-DD') || ':' || user_id::text, 'UTF8')
        )),
        'hex'
    );
    return encode(
        sha256(convert_to(
            'leaf|' || nonce || '|' || user_id::text || '|' || currency || '|'
            || trunc(units)::numeric(78, 0)::text,
            'UTF8'
        )),
        'hex'
    );
end
$$;
