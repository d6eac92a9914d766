-- Partners log in too (partner self-service, `POST /api/partners/login`), and their
-- failed logins are counted by the one lock-out of customers and staff (`login_attempts`).
-- Alone in its own file: a value added by `alter type … add value` cannot be used in the
-- transaction that adds it, and sqlx runs each file in one transaction.

-- `partner_logins.id` (20261204000210_partner_reports.sql).
alter type login_account_kind add value 'partner';
