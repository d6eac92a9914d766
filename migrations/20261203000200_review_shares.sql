-- Review to referral (guide 4.7): the shop calls POST /api/loyalty/review-shared when a
-- customer posts a review, and gets the customer's share links back. Each review a
-- customer shares is recorded here once: the primary key is the unique index that makes
-- a repeat of the call (a retry, a second click) answer the same links without a second
-- `review_created` event in the log.
create table product_review_shares (
    customer_id integer     not null,
    -- The shop's id of the review.
    review_id   bigint      not null,
    -- The product reviewed, when the shop says.
    product_id  integer,
    created_at  timestamptz not null default now(),
    constraint product_review_shares_pkey primary key (customer_id, review_id),
    constraint product_review_shares_customer_id_fkey
        foreign key (customer_id) references customers (id),
    constraint product_review_shares_review_id_positive check (review_id > 0),
    constraint product_review_shares_product_id_positive check (product_id > 0)
);
