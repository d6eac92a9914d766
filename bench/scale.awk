# Rows of the scale layer of bench/generate.sh, as COPY text (tab-separated, \N for null),
# one table per run: awk -f bench/scale.awk -v table=orders -v ... | psql -c "copy … from stdin".
#
# Every row is a pure function of its index and the knobs, so the tables agree with each
# other without reading each other: a partner customer's referral knows the status of the
# customer's first order because both come from the same hash of the order id.
#
# Variables (all required unless noted):
#   table       customers | wallets | referrals | invitations | orders | events | commissions
#   t0          the generation's "now", seconds since the epoch
#   total       customers of the base layout (1..total); partner customers follow
#   originals   base customers 1..originals may get extra orders (never the referred ones,
#               whose one pending order is the benchmark's first order)
#   pcust       partner customers (ids total+1 .. total+pcust)
#   extra       extra orders (ids EXTRA_BASE + 0 .. extra-1)
#   invitations pending invitations (referral ids after the partner customers')
#   clicks      clicks per partner signup (events)
#   partners    file of "uuid<TAB>code" lines, one per partner, in partner order
#   campaign    the default campaign's id
#   progress    1 to draw a progress bar on stderr (default 0); tty 1 when stderr is a terminal
#
# Layout:
#   partner customer j (0-based) = customer total+1+j, of partner 1 + floor(N * u^2) with u a
#     low-discrepancy fraction of j: partner k's share falls off as 1/sqrt(k) (the first
#     partner brings about sqrt(1/N) of them, 7 % with 200 partners); signed up at a moment
#     of the last year; its referral has the customer's id as its id;
#   extra order i (0-based) belongs to slot i mod (originals + pcust): an original (slot <
#     originals) or a partner customer; it is that customer's (i div slots)-th extra order,
#     placed after the customer's earlier ones and before t0;
#   an order's status is a hash of its id: 62 % delivered, 2 % partial_delivered, 4 %
#     returned after delivery, 12 % refused (returned, never delivered), 10 % cancelled,
#     10 % still open (pending, shipped, in transit); 3 % of the delivered have 20 % refunded.

function hash(n) { return (n * 48271 + 11) % 2147483647 }
function hash2(n) { return (hash(n) * 16807) % 2147483647 }

# Days since 1970-01-01 to "YYYY-MM-DD" (proleptic Gregorian; Howard Hinnant's algorithm).
function civil(z,    era, doe, yoe, y, doy, mp, d, m) {
    z += 719468
    era = int(z / 146097)
    doe = z - era * 146097
    yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
    y = yoe + era * 400
    doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
    mp = int((5 * doy + 2) / 153)
    d = doy - int((153 * mp + 2) / 5) + 1
    m = mp < 10 ? mp + 3 : mp - 9
    if (m <= 2) y++
    return sprintf("%04d-%02d-%02d", y, m, d)
}

function ts(t,    day, s) {
    t = int(t)
    day = int(t / 86400)
    s = t - day * 86400
    return sprintf("%s %02d:%02d:%02d+00", civil(day), int(s / 3600), int(s % 3600 / 60), s % 60)
}

function phone(c) { return sprintf("+8801%d%08d", 3 + int(c / 100000000) % 7, c % 100000000) }

function frac(x) { return x - int(x) }

# Partner customer j: its partner's index (1-based) and when it signed up.
function partner_of(j) { return 1 + int(npartners * frac((j + 1) * 0.6180339887498949) ^ 2) }
function signup_at(j) { return t0 - 365 * 86400 + (j * 104729) % (364 * 86400) }

# Original c (1..originals): when its extra orders may start (after its history orders).
function original_from(c) { return t0 - 400 * 86400 + (c * 37) % 2592000 + 40 * 86400 }

# Extra order i: its id, customer, placement, status, total, delivery, refund.
function order(i,    slot, n, from, gap, h, b) {
    slot = i % slots
    n = int(i / slots)
    o_id = EXTRA_BASE + i
    if (slot < originals) {
        o_customer = slot + 1
        o_j = -1
        from = original_from(o_customer)
    } else {
        o_j = slot - originals
        o_customer = total + 1 + o_j
        from = signup_at(o_j) + 3600
    }
    h = hash(o_id)
    gap = t0 - 7200 - from
    o_created = from + gap * (n + (h % 1000) / 1111) / (per_customer + 1)
    b = h % 1000
    o_total = 300 + (hash2(o_id) % 120) * 10
    o_refunded = 0
    o_delivered = ""
    if (b < 620) o_status = "delivered"
    else if (b < 640) o_status = "partial_delivered"
    else if (b < 680) o_status = "returned_after"
    else if (b < 800) o_status = "refused"
    else if (b < 900) o_status = "cancelled"
    else if (b < 930) o_status = "pending"
    else if (b < 960) o_status = "shipped"
    else o_status = "in_transit"
    if (o_status == "delivered" || o_status == "partial_delivered" || o_status == "returned_after") {
        o_delivered = o_created + 86400 + hash2(o_id) % 86400
        if (o_delivered > t0 - 60) o_delivered = t0 - 60
        if (o_status == "delivered" && hash2(o_id) % 100 < 3) o_refunded = o_total / 5
    }
    o_success = (o_status == "delivered" || o_status == "partial_delivered")
}

function db_status(s) {
    if (s == "returned_after" || s == "refused") return "returned"
    return s
}

# The progress bar: redrawn in place every 100,000 rows on a terminal (`tty=1`), one line
# per tenth in a log file.
function tick(done,    filled, bar, q) {
    if (!progress || rows == 0) return
    if (tty) {
        if (done < rows && done % 100000 != 0) return
    } else if (done < rows && int(done * 10 / rows) == int((done - 1) * 10 / rows)) {
        return
    }
    filled = int(done * 40 / rows)
    bar = ""
    for (q = 0; q < 40; q++) bar = bar (q < filled ? "#" : ".")
    printf("%s  %-12s [%s] %3d%%  %d/%d%s", tty ? "\r" : "", table, bar, int(done * 100 / rows), \
           done, rows, (tty && done < rows) ? "" : "\n") > "/dev/stderr"
}

BEGIN {
    FS = "\t"
    EXTRA_BASE = 300000000
    N = "\\N"
    HASH = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2g$bench-not-a-real-hash"
    npartners = 0
    while ((getline line < partners) > 0) {
        split(line, f, "\t")
        npartners++
        pid[npartners] = f[1]
        pcode[npartners] = f[2]
    }
    if (npartners == 0 && pcust > 0) { print "scale.awk: no partners in " partners > "/dev/stderr"; exit 1 }
    slots = originals + pcust
    per_customer = slots > 0 ? int((extra + slots - 1) / slots) : 0

    if (table == "customers" || table == "wallets") {
        rows = pcust
        for (j = 0; j < pcust; j++) {
            c = total + 1 + j
            at = ts(signup_at(j))
            if (table == "customers") {
                k = partner_of(j)
                # id name phone email password_hash is_guest customer_type district
                # referred_by_code referred_by_partner_id referred_channel referred_at
                # referral_campaign_id created_at updated_at
                print c "\tBench Partner Customer " c "\t" phone(c) "\tp" c "@bench.example\t" HASH \
                      "\tf\tretail\tDhaka\t" pcode[k] "\t" pid[k] "\tinfluencer\t" at "\t" campaign "\t" at "\t" at
            } else {
                # id customer_id balance total_earned total_spent created_at updated_at
                print c "\t" c "\t0\t0\t0\t" at "\t" at
            }
            tick(j + 1)
        }
    } else if (table == "referrals") {
        rows = pcust
        for (j = 0; j < pcust; j++) {
            c = total + 1 + j
            k = partner_of(j)
            completed = N; qualifying = N; released = N; status = "registered"; done = 0
            # The customer's first order is its first extra order, slot originals + j.
            if (originals + j < extra) {
                order(originals + j)
                if (o_success) {
                    status = "completed"; done = 1
                    completed = ts(o_delivered); qualifying = o_id
                    if (o_delivered + 7 * 86400 < t0) released = ts(o_delivered + 7 * 86400)
                }
            }
            h = hash(c) % 10
            utm_source = h < 3 ? "facebook" : (h < 5 ? "instagram" : N)
            utm_campaign = h < 5 ? "bench-" (c % 5) : N
            # id referred_customer_id referral_code share_code_used source_channel campaign_id
            # partner_id qualifying_order_id status reward_type first_order_placed
            # first_order_date created_at completed_at completions released_at utm_source
            # utm_campaign
            print c "\t" c "\tBP" c "\t" pcode[k] "\tinfluencer\t" campaign "\t" pid[k] "\t" qualifying \
                  "\t" status "\twallet\t" (done ? "t" : "f") "\t" completed "\t" ts(signup_at(j)) \
                  "\t" completed "\t" done "\t" released "\t" utm_source "\t" utm_campaign
            tick(j + 1)
        }
    } else if (table == "invitations") {
        rows = invitations
        for (n = 0; n < invitations; n++) {
            id = total + pcust + 1 + n
            referrer = 1 + (n * 7919) % originals
            at = ts(t0 - 30 * 86400 + (n * 13) % (29 * 86400))
            # id referrer_customer_id referred_phone referral_code share_code_used
            # source_channel campaign_id status created_at
            print id "\t" referrer "\t" sprintf("+88019%08d", n) "\tBI" id "\tREF" sprintf("%06d", referrer) \
                  "\twhatsapp\t" campaign "\tpending\t" at
            tick(n + 1)
        }
    } else if (table == "orders") {
        rows = extra
        for (i = 0; i < extra; i++) {
            order(i)
            # id sales_order_number customer_id status total_amount refunded_amount
            # delivered_at created_at updated_at
            print o_id "\tSO-" o_id "\t" o_customer "\t" db_status(o_status) "\t" o_total "\t" o_refunded \
                  "\t" (o_delivered == "" ? N : ts(o_delivered)) "\t" ts(o_created) "\t" ts(o_created + 86400 * 3 > t0 ? t0 : o_created + 86400 * 3)
            tick(i + 1)
        }
    } else if (table == "events") {
        rows = pcust
        for (j = 0; j < pcust; j++) {
            c = total + 1 + j
            k = partner_of(j)
            at = signup_at(j)
            # event_type referral_id referred_customer_id order_id share_code_used
            # partner_code source_channel created_at
            for (n = clicks; n >= 1; n--)
                print "clicked\t" N "\t" N "\t" N "\t" pcode[k] "\t" pcode[k] "\twhatsapp\t" ts(at - n * 600)
            print "partner_attributed\t" c "\t" N "\t" N "\t" N "\t" pcode[k] "\t" N "\t" ts(at)
            print "registered\t" c "\t" c "\t" N "\t" pcode[k] "\t" N "\tinfluencer\t" ts(at)
            if (originals + j < extra) {
                order(originals + j)
                if (o_success)
                    print "completed\t" c "\t" c "\t" o_id "\t" pcode[k] "\t" N "\tinfluencer\t" ts(o_delivered)
            }
            tick(j + 1)
        }
    } else if (table == "commissions") {
        # Every order of a partner customer delivered at some time earns its partner ৳30:
        # released a week after delivery, pending before that, voided if it came back.
        rows = extra
        for (i = 0; i < extra; i++) {
            if (i % slots >= originals) {
                order(i)
                if (o_delivered != "") {
                    k = partner_of(o_j)
                    release = o_delivered + 7 * 86400
                    if (o_status == "returned_after") {
                        status = "voided"; released = N; voided = ts(o_delivered + 3600); reason = "order_returned"
                    } else if (release < t0) {
                        status = "released"; released = ts(release); voided = N; reason = N
                    } else {
                        status = "pending"; released = N; voided = N; reason = N
                    }
                    # partner_id order_id customer_id referral_id status base_amount amount
                    # release_at released_at voided_at reversal_reason created_at updated_at
                    print pid[k] "\t" o_id "\t" o_customer "\t" o_customer "\t" status "\t" (o_total - o_refunded) \
                          "\t30\t" ts(release) "\t" released "\t" voided "\t" reason "\t" ts(o_delivered) "\t" ts(o_delivered)
                }
            }
            tick(i + 1)
        }
    } else {
        print "scale.awk: unknown table " table > "/dev/stderr"
        exit 1
    }
}
