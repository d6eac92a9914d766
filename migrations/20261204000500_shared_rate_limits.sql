-- Rate limits shared by every instance. Until now each process kept its own counters, so
-- N instances behind a load balancer let a client through N times its quota.
--
-- The rule is GCRA (the generic cell rate algorithm, as the `governor` crate applied it in
-- each process before): a limit of n a minute admits a burst of n, then one request every
-- 60/n seconds. Its whole state per client is one timestamp, the "theoretical arrival
-- time" (tat), so one upsert both decides and records, atomically, whichever instance asks.
--
-- The table is UNLOGGED: no WAL, so the write costs little. A crash of PostgreSQL empties
-- it, which forgives every client once; limits are a brake on abuse, never what guards
-- money.
create type rate_limit_bucket as enum (
    'public',  -- signup, lookup, code check, landing (PUBLIC_RATE_LIMIT_PER_MINUTE)
    'login'    -- logins (LOGIN_RATE_LIMIT_PER_MINUTE)
);

create unlogged table rate_limit_states (
    bucket rate_limit_bucket not null,
    -- The client's key: its IPv4 address, or its IPv6 /64.
    client inet        not null,
    -- When the client's quota is fully refilled minus one burst; a row whose tat has
    -- passed is the same as no row (pruned by every instance each minute).
    tat    timestamptz not null,
    constraint rate_limit_states_pkey primary key (bucket, client)
);
create index rate_limit_states_tat_idx on rate_limit_states (tat);

-- Takes one request of `p_client` from limit `p_bucket` of `p_per_minute` a minute.
-- Returns null when the request is admitted, otherwise the seconds until it would be.
create function take_rate_limit(p_bucket rate_limit_bucket, p_client inet, p_per_minute integer)
returns double precision
language plpgsql as $$
declare
    v_emission interval    := interval '60 seconds' / p_per_minute;
    v_now      timestamptz := clock_timestamp();
    v_tat      timestamptz;
begin
    -- Admitted while the new tat stays within one minute (the burst of n) of now; the
    -- conflict's WHERE refuses without writing.
    insert into rate_limit_states as s (bucket, client, tat)
    values (p_bucket, p_client, v_now + v_emission)
    on conflict (bucket, client) do update
        set tat = greatest(s.tat, v_now) + v_emission
        where greatest(s.tat, v_now) + v_emission <= v_now + interval '60 seconds'
    returning s.tat into v_tat;
    if found then
        return null;
    end if;
    select s.tat into v_tat from rate_limit_states s
    where s.bucket = p_bucket and s.client = p_client;
    return greatest(extract(epoch from v_tat + v_emission - interval '60 seconds' - v_now), 0);
end
$$;
