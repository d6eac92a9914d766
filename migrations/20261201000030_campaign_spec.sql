-- Writing a campaign from its spec: one JSON object (Rust's serialised `CampaignSpec`)
-- instead of 31 binds listed once for the insert and again for the update.
--
-- save_campaign(p_id, p_spec) creates the campaign (p_id null, or an id not yet used) or
-- updates it, setting exactly the columns the spec names and `updated_at`; it returns the
-- id. The values are converted by jsonb_populate_record, so they get the columns' own
-- types and checks. The column list is read from the catalogue, not written out here: it
-- is the one list of a campaign's fields outside `CampaignSpec`, and that is the table.
--
-- The spec must name every settable column and nothing else (the columns the database
-- owns are id, created_at, updated_at and the spent_* counters of spend_budget): a spec
-- field without a column, or a new column the spec lacks, fails loudly here instead of
-- being dropped or left at its default.
create function save_campaign(p_id uuid, p_spec jsonb) returns uuid
language plpgsql as $$
declare
    v_id      uuid := coalesce(p_id, gen_random_uuid());
    v_columns text[];
    v_keys    text[];
    v_list    text;
begin
    select array_agg(a.attname::text order by a.attnum) into v_columns
    from pg_attribute a
    where a.attrelid = 'referral_campaigns'::regclass and a.attnum > 0 and not a.attisdropped
      and a.attname not in ('id', 'created_at', 'updated_at', 'spent_amount', 'spent_count');
    select array_agg(k order by k) into v_keys from jsonb_object_keys(p_spec) k;
    if v_keys is distinct from (select array_agg(c order by c) from unnest(v_columns) c) then
        raise exception 'save_campaign: the spec''s keys % are not the settable columns %',
            v_keys, v_columns;
    end if;
    -- Identifiers come from the catalogue and are quoted; values travel as a parameter.
    select string_agg(quote_ident(c), ', ') into v_list from unnest(v_columns) c;
    execute format(
        'insert into referral_campaigns as c (id, %1$s)
         select $1, %1$s from jsonb_populate_record(null::referral_campaigns, $2)
         on conflict (id) do update set (%1$s, updated_at) = (select %2$s, now())',
        v_list,
        (select string_agg('excluded.' || quote_ident(c), ', ') from unnest(v_columns) c))
    using v_id, p_spec;
    return v_id;
end;
$$;
