//! The event relay to NATS JetStream: a real `nats-server -js` per test (its own port and
//! store), events from the real flows and from `emit_event`, published by the real relay
//! (in the real server, or called directly), and the stream read back: each event once,
//! with its id as `Nats-Msg-Id`, through concurrency, an outage and a crash.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::message::StreamMessage;
use bondhu::config::Config;
use bondhu::service::event_relay::{EVENT_TYPE_HEADER, EventRelay};
use bondhu::service::outbox::RoundCounts;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{TestApp, test_config};
use crate::server::spawn;

const STREAM: &str = "BONDHU_EVENTS";

// ---------------------------------------------------------------------------------------
// A NATS server of the test's own.

/// `nats-server -js` on a free port of 127.0.0.1 with a store directory of its own;
/// killed, and its store removed, when dropped.
struct Nats {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
    token: Option<String>,
}

impl Nats {
    async fn start(token: Option<&str>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = std::env::temp_dir().join(format!("bondhu-nats-{}-{port}", std::process::id()));
        let mut nats = Self {
            child: None,
            port,
            store,
            token: token.map(str::to_owned),
        };
        nats.run().await;
        nats
    }

    fn binary() -> &'static str {
        let on_path = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| dir.join("nats-server").is_file())
        });
        if on_path {
            "nats-server"
        } else {
            "/usr/sbin/nats-server"
        }
    }

    /// Starts the server (again, on the same port and store) and waits for JetStream.
    async fn run(&mut self) {
        let mut command = Command::new(Self::binary());
        command
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(token) = &self.token {
            command.args(["--auth", token]);
        }
        self.child = Some(
            command
                .spawn()
                .expect("nats-server (scripts/ensure-tools.sh)"),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let error = match self.options().connect(self.url()).await {
                // JetStream answers its API (the account's info) once it is up.
                Ok(client) => match client.request("$JS.API.INFO", "".into()).await {
                    Ok(reply) if !reply.payload.is_empty() => return,
                    Ok(_) => "an empty answer".to_owned(),
                    Err(err) => err.to_string(),
                },
                Err(err) => err.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "nats-server did not start: {error}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server (SIGKILL): its clients see the connection drop.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn options(&self) -> async_nats::ConnectOptions {
        let options = async_nats::ConnectOptions::new();
        match &self.token {
            Some(token) => options.token(token.clone()),
            None => options,
        }
    }

    /// A client of the test's own, to read the stream.
    async fn jetstream(&self) -> jetstream::Context {
        jetstream::new(self.options().connect(self.url()).await.unwrap())
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// Every message of the stream, in order.
async fn stream_messages(js: &jetstream::Context) -> Vec<StreamMessage> {
    let stream = js.get_stream(STREAM).await.unwrap();
    let state = stream.get_info().await.unwrap().state;
    let mut messages = Vec::new();
    if state.messages == 0 {
        return messages;
    }
    for sequence in state.first_sequence..=state.last_sequence {
        messages.push(stream.get_raw_message(sequence).await.unwrap());
    }
    messages
}

async fn stream_count(js: &jetstream::Context) -> u64 {
    let stream = js.get_stream(STREAM).await.unwrap();
    stream.get_info().await.unwrap().state.messages
}

fn relay_config(nats: &Nats, extra: &[(&str, &str)]) -> Config {
    let url = nats.url();
    let mut vars = vec![
        ("EVENTS_NATS_URL", url.as_str()),
        ("EVENTS_NATS_PUBLISH_TIMEOUT_SECS", "1"),
    ];
    vars.extend_from_slice(extra);
    test_config(&vars)
}

/// A relay of `nats`, turned on in the database.
async fn relay(pool: &PgPool, nats: &Nats) -> EventRelay {
    let config = relay_config(nats, &[]);
    let relay = EventRelay::connect(config.events_nats.as_ref().unwrap())
        .await
        .unwrap();
    relay.enable(pool).await.unwrap();
    wait_until("the relay connects", || relay.is_connected()).await;
    relay
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Emits `n` test events through the SQL writer, in one statement.
async fn emit(pool: &PgPool, tag: &str, n: i32) {
    sqlx::query!(
        "select count(emit_event('reward.released', 'test:' || $1 || ':' || i,
                                 jsonb_build_object('n', i)))
         from generate_series(1, $2::int) as i",
        tag,
        n,
    )
    .fetch_one(pool)
    .await
    .unwrap();
}

/// Each publication record: (event id, status, stream sequence).
async fn records(pool: &PgPool) -> Vec<(uuid::Uuid, String, Option<i64>)> {
    sqlx::query!(
        r#"select e.event_id, p.status::text as "status!", p.stream_sequence
           from event_publications p join outbox_events e on e.id = p.outbox_event_id
           order by p.outbox_event_id"#
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.event_id, r.status, r.stream_sequence))
    .collect()
}

fn msg_id(message: &StreamMessage) -> String {
    message
        .headers
        .get("Nats-Msg-Id")
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_delivered_order_reaches_the_stream_once_through_the_real_server(pool: PgPool) {
    let nats = Nats::start(Some("nats-test-token-1")).await;
    // Before the relay is on: an event that is never published.
    emit(&pool, "before", 1).await;
    let url = nats.url();
    let server = spawn(
        &pool.connect_options(),
        &[
            ("EVENTS_NATS_URL", url.as_str()),
            ("EVENTS_NATS_TOKEN", "nats-test-token-1"),
            ("EVENTS_NATS_POLL_MILLIS", "100"),
        ],
    )
    .await;

    // A friend registers with the referrer's code; their first order is delivered.
    let app = TestApp::new(pool.clone()).await;
    let (_referrer, friend) = app.referrer_and_friend(1).await;
    app.order(1, friend, "delivered").await;

    let events = sqlx::query!(
        r#"select e.event_id, e.type::text as "type!", e.payload,
                  event_time(e.created_at) as "created_at!"
           from outbox_events e join event_publications p on p.outbox_event_id = e.id
           order by e.id"#
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.r#type.as_str()).collect();
    assert!(types.contains(&"referral.completed"), "{types:?}");
    let all: i64 = sqlx::query_scalar!(r#"select count(*) as "n!" from outbox_events"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        all as usize,
        events.len() + 1,
        "only the earlier event has no record"
    );

    // The server's relay publishes them in the background.
    let js = nats.jetstream().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while records(&pool)
        .await
        .iter()
        .any(|(_, status, _)| status != "published")
    {
        assert!(
            Instant::now() < deadline,
            "the server's relay did not publish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let messages = stream_messages(&js).await;
    assert_eq!(messages.len(), events.len(), "each event once");
    let recorded = records(&pool).await;
    for ((event, message), (_, _, sequence)) in events.iter().zip(&messages).zip(&recorded) {
        assert_eq!(msg_id(message), event.event_id.to_string());
        assert_eq!(
            message.subject.as_str(),
            format!("bondhu.events.{}", event.r#type)
        );
        assert_eq!(
            message.headers.get(EVENT_TYPE_HEADER).unwrap().as_str(),
            event.r#type
        );
        assert_eq!(*sequence, Some(message.sequence as i64));
        // The envelope webhooks send: id, type, createdAt, data.
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(body["id"], event.event_id.to_string());
        assert_eq!(body["type"], event.r#type);
        assert_eq!(body["createdAt"], event.created_at);
        assert_eq!(body["data"], event.payload);
        assert_eq!(body.as_object().unwrap().len(), 4, "{body}");
    }

    // The same fact again (the status re-sent) is no new event, and nothing more is sent.
    app.order(1, friend, "delivered").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stream_count(&js).await as usize, events.len());

    server.stop.send(()).unwrap();
    server.handle.await.unwrap();
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn two_relays_at_once_publish_each_event_exactly_once(pool: PgPool) {
    let nats = Nats::start(None).await;
    let (first, second) = (relay(&pool, &nats).await, relay(&pool, &nats).await);
    emit(&pool, "pair", 300).await;

    let (a, b) = tokio::join!(first.drain(&pool, 50), second.drain(&pool, 50));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.published + b.published, 300, "{a:?} {b:?}");
    assert_eq!(a.duplicates + b.duplicates, 0, "no event was claimed twice");
    assert_eq!(a.failed + b.failed, 0);
    assert!(
        a.published > 0 && b.published > 0,
        "both relays took a share: {a:?} {b:?}"
    );

    let js = nats.jetstream().await;
    let messages = stream_messages(&js).await;
    assert_eq!(messages.len(), 300);
    let mut ids: Vec<String> = messages.iter().map(msg_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 300, "300 distinct event ids");
    assert!(
        records(&pool)
            .await
            .iter()
            .all(|(_, status, sequence)| status == "published" && sequence.is_some())
    );
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn events_wait_while_nats_is_down_and_go_when_it_is_back(pool: PgPool) {
    let mut nats = Nats::start(None).await;
    let relay = relay(&pool, &nats).await;
    relay.ensure_stream().await.unwrap();

    nats.stop();
    wait_until("the relay sees NATS go", || !relay.is_connected()).await;
    emit(&pool, "outage", 20).await;
    let round = relay.drain(&pool, 5).await.unwrap();
    assert_eq!(round.total(), 0, "nothing is claimed while disconnected");
    let stats = bondhu::db::event_publications::stats(&pool).await.unwrap();
    assert_eq!(stats.depth, 20);
    assert!(stats.lag_seconds >= 0.0);

    nats.run().await;
    wait_until("the relay reconnects", || relay.is_connected()).await;
    let round = relay.drain(&pool, 5).await.unwrap();
    assert_eq!(round.published, 20, "{round:?}");
    assert_eq!(stream_count(&nats.jetstream().await).await, 20);
    let stats = bondhu::db::event_publications::stats(&pool).await.unwrap();
    assert_eq!(stats.depth, 0);
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn a_crash_between_publishing_and_recording_stores_nothing_twice(pool: PgPool) {
    let nats = Nats::start(None).await;
    let relay = relay(&pool, &nats).await;
    emit(&pool, "crash", 6).await;
    assert_eq!(relay.drain(&pool, 5).await.unwrap().published, 6);
    let before = records(&pool).await;

    // The acknowledgements were never recorded: three records are queued again (as if the
    // recording statement never ran), three still `publishing` with their lease over (as if
    // the relay died holding them).
    sqlx::query!(
        "update event_publications
         set status = 'queued', stream_sequence = null, published_at = null
         where outbox_event_id in (select id from outbox_events order by id limit 3)"
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "update event_publications
         set status = 'publishing', stream_sequence = null, published_at = null,
             locked_until = now() - interval '1 second'
         where status = 'published'"
    )
    .execute(&pool)
    .await
    .unwrap();

    let again = relay.drain(&pool, 5).await.unwrap();
    assert_eq!(again.duplicates, 6, "{again:?}");
    assert_eq!(again.published, 0, "{again:?}");
    assert_eq!(
        stream_count(&nats.jetstream().await).await,
        6,
        "deduplicated"
    );
    assert_eq!(
        records(&pool).await,
        before,
        "the first copies' sequences recorded"
    );
}
