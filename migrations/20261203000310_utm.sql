-- Community groups and UTM (guide 4.9): the landing keeps `utm_source`, `utm_medium`,
-- `utm_campaign` and `utm_content` on the click, the register page sends them back with the
-- signup, and the referral that attributes the customer keeps them, so a partner's report
-- can count signups and delivered first orders per source and campaign.
--
-- Values are cleaned before they are written (`domain::utm::Utm`: trimmed, at most 100
-- characters, no control characters); the checks below keep that true of every writer.

alter table customer_referrals
    add column utm_source   varchar(100),
    add column utm_medium   varchar(100),
    add column utm_campaign varchar(100),
    add column utm_content  varchar(100),
    add constraint customer_referrals_utm_printable check (
        (coalesce(utm_source, '') || coalesce(utm_medium, '')
         || coalesce(utm_campaign, '') || coalesce(utm_content, '')) !~ '[[:cntrl:]]'
        and btrim(utm_source) <> '' and btrim(utm_medium) <> ''
        and btrim(utm_campaign) <> '' and btrim(utm_content) <> '');

