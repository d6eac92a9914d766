-- Login lock-out in one place for customers and staff. A login attempt is counted here
-- before its password is checked (see `src/db/logins.rs`), so parallel attempts cannot
-- all slip past the limit; a correct password deletes the row.

create type login_account_kind as enum ('customer', 'staff');

create table login_attempts (
    account_kind login_account_kind not null,
    -- `customers.id` or `users.id`, after `account_kind`.
    account_id   integer            not null,
    -- Attempts counted in the current window (since the last correct password or the end
    -- of the last lock). An attempt refused while locked stores `LOGIN_MAX_FAILURES + 1`.
    failures     integer            not null,
    -- Set when the count reaches `LOGIN_MAX_FAILURES`; once past, a new window starts.
    locked_until timestamptz,
    constraint login_attempts_pkey primary key (account_kind, account_id),
    constraint login_attempts_account_id_positive check (account_id > 0),
    constraint login_attempts_failures_positive check (failures > 0)
);

-- Carry over the bookkeeping of the two old homes. A lock that already ended counts for
-- nothing; failures counted after it carry on.
insert into login_attempts (account_kind, account_id, failures, locked_until)
select 'customer', id, greatest(failed_login_count, 1),
       case when locked_until > now() then locked_until end
from customers
where failed_login_count > 0 or locked_until > now();

insert into login_attempts (account_kind, account_id, failures, locked_until)
select 'staff', id, greatest(failed_login_count, 1),
       case when locked_until > now() then locked_until end
from users
where failed_login_count > 0 or locked_until > now();

alter table customers
    drop constraint customers_failed_login_count_non_negative,
    drop column failed_login_count,
    drop column locked_until;

alter table users
    drop constraint users_failed_login_count_non_negative,
    drop column failed_login_count,
    drop column locked_until;
