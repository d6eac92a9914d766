-- Every list is paginated with a cursor (issue 13): the indexes the lists' keyset
-- conditions seek, one per list whose order no index held yet. Each condition is a row
-- comparison on the list's sort keys, `(a, b) < ($1, $2)`, so each page is one index range
-- from the cursor, whatever page it is.
--
-- Locks: a plain `create index` takes a SHARE lock on its table while it builds (reads go
-- on, writes wait). These tables are small (campaigns, partners, a customer's locks and
-- lists); on a large live database, build the indexes first by hand with
-- `create index concurrently` under the same names: the `if not exists` below then skips
-- them, and the two `drop index` statements are quick.

-- Campaigns and partners, newest first: `order by created_at desc, id desc`, the cursor the
-- previous page's last row's `(created_at, id)` (read from the row its `beforeId` names).
create index if not exists referral_campaigns_list_idx on referral_campaigns (created_at, id);
create index if not exists referral_partners_list_idx on referral_partners (created_at, id);

-- A customer's price locks, newest first.
create index if not exists price_locks_customer_idx on price_locks (customer_id, id);

-- A list's items, in the order they were added.
create index if not exists grocery_list_items_list_idx on grocery_list_items (list_id, id);

-- Subscriptions due, by next order date then id (replaces grocery_lists_due_idx, whose
-- lookups, and the dashboard's count of active subscriptions, it serves as well).
create index if not exists grocery_lists_due_list_idx on grocery_lists (next_order_date, id)
    where is_subscription and is_active;
drop index if exists grocery_lists_due_idx;

-- Unsent reminders, by due date then id (replaces customer_product_reminders_due_idx).
create index if not exists customer_product_reminders_due_list_idx
    on customer_product_reminders (reminder_due_date, id)
    where not reminder_sent;
drop index if exists customer_product_reminders_due_idx;
