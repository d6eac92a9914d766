-- A referrer's statistics sum the milestone rewards released to them. The only index on
-- milestone_awards leads with milestone_id, so that sum read the whole table on every
-- stats request (PostgreSQL 15 has no skip scan).
create index milestone_awards_customer_idx on milestone_awards (customer_id, status);
