#!/usr/bin/env python3
"""The chaos driver of scripts/chaos.sh: duplicate money operations spread over several
Bondhu instances while PostgreSQL connections are killed and the server is crashed, then
a check that every operation had exactly one effect.

Standard library only. Every operation is idempotent by design (an order's status, a
credit's idempotency key, a withdrawal's compare-and-set), so the driver sends each one
several times at once to different instances, and retries it on a dropped connection or
a 503 as a client behind a load balancer would. A 2xx is an acknowledgement: whatever was
acknowledged must be in the database at the end, once.
"""

import argparse
import json
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ORDER_BASE = 500_000


class Tally:
    """Answers by status class, shared by the worker threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_status = {}
        self.server_errors = []  # (method, path, status, body) of every 5xx but 503
        self.unavailable = 0  # 503s and refused connections, retried

    def record(self, method, path, status, body):
        with self.lock:
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if status >= 500 and status != 503:
                self.server_errors.append((method, path, status, body[:300]))


class Client:
    def __init__(self, servers, token, tally):
        self.servers = servers
        self.token = token
        self.tally = tally

    def call(self, method, path, body=None, server=None, retries=60, client_ip=None):
        """Sends until an answer other than 503 or a dropped connection arrives; returns
        (status, json). A retry may land on another instance."""
        for attempt in range(retries):
            base = self.servers[server % len(self.servers)] if server is not None \
                else random.choice(self.servers)
            if attempt:
                base = random.choice(self.servers)
            data = json.dumps(body).encode() if body is not None else None
            request = urllib.request.Request(base + path, data=data, method=method)
            request.add_header("content-type", "application/json")
            if self.token:
                request.add_header("authorization", "Bearer " + self.token)
            if client_ip:
                # Each customer signs up from their own address, as real ones do; one
                # address for all would (rightly) send every referral to fraud review.
                request.add_header("x-forwarded-for", client_ip)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    text = response.read().decode()
                    self.tally.record(method, path, response.status, text)
                    return response.status, json.loads(text) if text else None
            except urllib.error.HTTPError as error:
                text = error.read().decode()
                self.tally.record(method, path, error.code, text)
                if error.code == 503:
                    with self.tally.lock:
                        self.tally.unavailable += 1
                        # Unavailable is still the JSON error envelope, never a bare page.
                        try:
                            if json.loads(text).get("code") != "service_unavailable":
                                raise ValueError(text)
                        except ValueError:
                            self.tally.server_errors.append((method, path, 503, text[:300]))
                    time.sleep(0.2 + random.random() * 0.3)
                    continue
                try:
                    return error.code, json.loads(text)
                except ValueError:
                    return error.code, {"raw": text}
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                # The instance is restarting, or the connection was cut: retry elsewhere.
                with self.tally.lock:
                    self.tally.unavailable += 1
                time.sleep(0.2 + random.random() * 0.3)
        raise RuntimeError(f"{method} {path}: no answer after {retries} tries")


def psql(database_url, sql, tries=60):
    """Rows of `sql`, retried while the database is restarting."""
    for attempt in range(tries):
        run = subprocess.run(["psql", database_url, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql],
                             capture_output=True, text=True)
        if run.returncode == 0:
            return [line.split("|") for line in run.stdout.strip().splitlines() if line]
        if attempt == tries - 1 or "ERROR:  " in run.stderr and "terminat" not in run.stderr:
            raise RuntimeError(f"psql failed: {run.stderr.strip()}")
        time.sleep(0.5)


def at_once(client, copies, method, path, body):
    """`copies` identical requests at once, each to another instance; returns statuses."""
    with ThreadPoolExecutor(copies) as pool:
        futures = [pool.submit(client.call, method, path, body, i) for i in range(copies)]
        return [f.result()[0] for f in futures]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", required=True, help="comma-separated base URLs")
    parser.add_argument("--token", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--restart-cmd", help="shell command that crashes and restarts PostgreSQL")
    parser.add_argument("--seconds", type=int, default=120, help="time limit of the run")
    args = parser.parse_args()
    started = time.monotonic()
    servers = args.servers.split(",")
    tally = Tally()
    admin = Client(servers, args.token, tally)
    public = Client(servers, None, tally)
    pairs = args.pairs
    db = args.database_url
    print(f"chaos: {len(servers)} instances, {pairs} referral pairs, {args.copies} copies of each operation")

    # ---- set-up: referrers and their friends (no faults yet) --------------------------
    friends = []
    referrers = []
    for i in range(pairs):
        status, referrer = public.call("POST", "/api/customers/public",
                                       {"phone": f"0171{i:07d}", "name": f"Referrer {i}"},
                                       client_ip=f"10.1.{i // 250}.{i % 250 + 1}")
        assert status in (200, 201), (status, referrer)
        status, friend = public.call("POST", "/api/customers/public",
                                     {"phone": f"0181{i:07d}", "ref": f"REF{referrer['id']:06d}"},
                                     client_ip=f"10.2.{i // 250}.{i % 250 + 1}")
        assert status in (200, 201), (status, friend)
        referrers.append(referrer["id"])
        friends.append(friend["id"])

    # Withdrawals need a verified phone; that flow has its own tests, so it is taken as done.
    psql(db, "update customers set phone_verified_at = now() where id in (%s)"
             % ",".join(str(r) for r in referrers))

    # ---- faults, in the background -----------------------------------------------------
    stop_faults = threading.Event()
    faults = {"terminated": 0, "crashes": 0}

    def inject():
        n = 0
        while not stop_faults.wait(1.5 + random.random()):
            n += 1
            if args.restart_cmd and n % 4 == 0:
                subprocess.run(args.restart_cmd, shell=True, check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                faults["crashes"] += 1
            else:
                try:
                    rows = psql(db, "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                                    "where datname = current_database() and pid <> pg_backend_pid() "
                                    "and backend_type = 'client backend'")
                    faults["terminated"] += int(rows[0][0])
                except RuntimeError:
                    pass  # the database is restarting

    injector = threading.Thread(target=inject, daemon=True)
    injector.start()

    # ---- the operations, each sent `copies` times at once -----------------------------
    acknowledged_credits = []
    returned = set()
    paid_withdrawals = []
    lock = threading.Lock()

    def scenario(i):
        order = ORDER_BASE + i
        statuses = at_once(admin, args.copies, "PUT", f"/api/orders/{order}",
                           {"customerId": friends[i], "status": "delivered", "totalAmount": 990})
        assert all(s == 200 for s in statuses), ("delivery", i, statuses)
        key = f"chaos-credit-{i}"
        statuses = at_once(admin, args.copies, "POST", f"/api/loyalty/wallet/{referrers[i]}/credit",
                           {"amount": 150, "source": "bonus", "idempotencyKey": key,
                            "description": "chaos bonus"})
        assert all(s in (200, 201) for s in statuses), ("credit", i, statuses)
        with lock:
            acknowledged_credits.append(key)
        if i % 5 == 0:
            statuses = at_once(admin, args.copies, "POST", f"/api/orders/{order}/status",
                               {"status": "returned"})
            assert all(s == 200 for s in statuses), ("return", i, statuses)
            with lock:
                returned.add(i)
        if i % 3 == 1:
            status, withdrawal = admin.call(
                "POST", f"/api/loyalty/wallet/{referrers[i]}/withdrawals",
                {"amount": 100, "method": "bkash", "account": f"0171{i:07d}",
                 "idempotencyKey": f"chaos-withdrawal-{i}"})
            assert status in (200, 201), ("withdrawal", i, status, withdrawal)
            wid = withdrawal["id"]
            for target in ("approved", "paid"):
                statuses = at_once(admin, args.copies, "PUT", f"/api/loyalty/wallet/withdrawals/{wid}/status",
                                   {"status": target, "payoutReference": f"TRX{i}"})
                # One copy moves it; the others see it already moved (409). If the one
                # answer that moved it was lost with a cut connection, its retry sees 409
                # too: the database says what happened.
                assert all(s in (200, 409) for s in statuses), ("decide", i, target, statuses)
                now = psql(db, f"select status from wallet_withdrawal_requests where id = {wid}")
                assert now and now[0][0] in (target, "paid"), ("decide", i, target, statuses, now)
            with lock:
                paid_withdrawals.append(wid)

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(scenario, i) for i in range(pairs)]:
            future.result()

    # Time passes: every hold ends, and the instances' release jobs (every second) pay.
    psql(db, "update customer_referrals set hold_until = now() - interval '1 second' "
             "where status = 'completed' and released_at is null and hold_until is not null")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            left = int(psql(db, "select count(*) from customer_referrals where status = 'completed' "
                                "and released_at is null and hold_until is not null")[0][0])
        except RuntimeError:
            left = -1
        if left == 0:
            break
        time.sleep(1)
    stop_faults.set()
    injector.join()
    # A last crash could have come after the release: give the jobs one more look.
    time.sleep(3)

    # ---- the verdict -------------------------------------------------------------------
    problems = []
    keys = "','".join(acknowledged_credits)
    rows = psql(db, f"select idempotency_key, count(*) from wallet_transactions "
                    f"where idempotency_key in ('{keys}') group by 1")
    found = {k: int(n) for k, n in rows}
    for key in acknowledged_credits:
        if found.get(key) != 1:
            problems.append(f"credit {key} acknowledged but present {found.get(key, 0)} times")
    for i in range(pairs):
        rid = psql(db, f"select id, status, released_at is not null from customer_referrals "
                       f"where referred_customer_id = {friends[i]}")[0]
        credits = int(psql(db, f"select count(*) from wallet_transactions "
                               f"where idempotency_key = 'referral:{rid[0]}:referrer:wallet'")[0][0])
        clawbacks = int(psql(db, f"select count(*) from wallet_transactions "
                                 f"where idempotency_key = 'referral:{rid[0]}:referrer:wallet:clawback'")[0][0])
        if i in returned:
            # Voided in its hold (no credit), or released and then clawed back once.
            if rid[1] != "registered" or credits != clawbacks or credits > 1:
                problems.append(f"returned pair {i}: referral {rid}, credits {credits}, clawbacks {clawbacks}")
        elif rid[1] != "completed" or rid[2] != "t" or credits != 1 or clawbacks != 0:
            problems.append(f"pair {i}: referral {rid}, credits {credits}, clawbacks {clawbacks}")
    for wid in paid_withdrawals:
        n = int(psql(db, f"select count(*) from wallet_transactions "
                         f"where idempotency_key = 'withdrawal:{wid}:paid'")[0][0])
        if n != 1:
            problems.append(f"withdrawal {wid} paid {n} times")
    for method, path, status, body in tally.server_errors:
        problems.append(f"{status} on {method} {path}: {body}")

    elapsed = time.monotonic() - started
    if elapsed > args.seconds:
        problems.append(f"took {elapsed:.0f}s, over the limit of {args.seconds}s")
    effects = len(acknowledged_credits) + pairs + len(returned) + len(paid_withdrawals)
    print(json.dumps({
        "seconds": round(elapsed, 1),
        "requests_by_status": dict(sorted(tally.by_status.items())),
        "retried_unavailable": tally.unavailable,
        "connections_terminated": faults["terminated"],
        "postgres_crashes": faults["crashes"],
        "operations": {"deliveries": pairs, "credits": len(acknowledged_credits),
                       "returns": len(returned), "withdrawals_paid": len(paid_withdrawals),
                       "copies_each": args.copies},
        "effects_checked": effects,
        "problems": problems,
    }, indent=2))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
