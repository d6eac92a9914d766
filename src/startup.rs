//! Building and running the server: the same code for `bondhu serve` and for tests.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::serve::ListenerExt;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::auth;
use crate::config::{Config, redact_url};
use crate::db;
use crate::http::{self, AppState, SHUTDOWN_GRACE};
use crate::providers::Providers;
use crate::service::event_relay::EventRelay;
use crate::service::messaging::dispatcher::Dispatcher;
use crate::service::webhooks::dispatcher::WebhookDispatcher;
use crate::telemetry;

/// The name under which a generated JWT secret is kept in `app_secrets`.
const JWT_SECRET_NAME: &str = "jwt_secret";
/// The name under which a generated phone-code HMAC key is kept in `app_secrets`.
const OTP_SECRET_NAME: &str = "otp_secret";
/// The name under which a generated fraud-signal hashing key is kept in `app_secrets`.
const FRAUD_HASH_SECRET_NAME: &str = "fraud_hash_secret";

/// A server that is bound to its port and ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    dispatcher: Dispatcher,
    webhooks: WebhookDispatcher,
    /// The relay to NATS JetStream, when `EVENTS_NATS_URL` is set.
    relay: Option<EventRelay>,
    port: u16,
    /// The metrics listener, when `METRICS_ADDR` is set.
    metrics: Option<TcpListener>,
}

impl Application {
    /// Connects to PostgreSQL (creating the database if needed), applies the migrations,
    /// resolves the JWT secret and binds the listener (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        tracing::info!(database = %redact_url(config.database_url()), "connecting to PostgreSQL");
        let pool = db::connect(&config).await?;
        db::migrate(&pool).await?;
        let state = app_state(pool, config).await?;
        if let Some(url) = state.config.database_read_url() {
            let url = redact_url(url);
            match state.reports.probe().await {
                Ok(()) => tracing::info!(replica = %url, "reports read the replica"),
                // Not fatal: money paths do not need it, and its pool keeps trying.
                Err(err) => tracing::warn!(
                    replica = %url,
                    error = format!("{err:#}"),
                    "the read replica does not answer; the reports answer 503 until it does"
                ),
            }
        }
        let address = (state.config.host, state.config.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding {}:{}", address.0, address.1))?;
        let port = listener.local_addr()?.port();
        let providers = Providers::from_config(&state.config)
            .context("building the message providers' HTTP client")?;
        let dispatcher = Dispatcher::new(&state.config, providers);
        let metrics = match state.config.metrics_addr {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("binding the metrics listener {address}"))?,
            ),
            None => None,
        };
        let webhooks = WebhookDispatcher::new(&state.config.webhooks)
            .context("building the webhooks' HTTP client")?;
        let relay = match &state.config.events_nats {
            Some(events) => {
                // Connects in the background: a NATS that is down delays no start-up.
                let relay = EventRelay::connect(events).await?;
                relay
                    .enable(&state.db)
                    .await
                    .context("turning the event relay on")?;
                Some(relay)
            }
            None => None,
        };
        Ok(Self {
            listener,
            router: http::router(state.clone()),
            state,
            dispatcher,
            webhooks,
            relay,
            port,
            metrics,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port metrics are served on, when `METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
            .map(|address| address.port())
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish for at most
    /// [`SHUTDOWN_GRACE`] (idle keep-alive connections must not hold the process open)
    /// and closes the pool.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stopping_tx.send(true);
        };
        // Small responses go out at once instead of waiting for Nagle's algorithm.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(%err, "could not set TCP_NODELAY");
            }
        });
        tracing::info!(port = self.port, "listening");
        let pool = self.state.db.clone();
        let pruning = tokio::spawn(async move {
            let mut every_minute = tokio::time::interval(Duration::from_secs(60));
            loop {
                every_minute.tick().await;
                crate::http::rate_limit::RateLimits::prune(&pool).await;
            }
        });
        let schedule = crate::jobs::Schedule {
            every: self.state.config.jobs_interval,
            reconcile_every: self.state.config.reconcile_interval,
        };
        let jobs = tokio::spawn(crate::jobs::run(
            self.state.db.clone(),
            schedule,
            stopping_rx.clone(),
        ));
        let dispatcher = tokio::spawn(crate::jobs::dispatch_messages(
            self.state.db.clone(),
            self.dispatcher,
            self.state.outbox.clone(),
            self.state.config.messaging.poll_interval,
            stopping_rx.clone(),
        ));
        let metrics = match self.metrics {
            Some(listener) => {
                let handle = telemetry::metrics::install()?;
                let router = telemetry::metrics::router(
                    handle,
                    self.state.db.clone(),
                    self.state.lean.clone(),
                    self.state.reports.clone(),
                );
                let mut stopping = stopping_rx.clone();
                tracing::info!(address = ?listener.local_addr().ok(), "serving metrics");
                Some(tokio::spawn(async move {
                    let stopped = async move {
                        let _ = stopping.wait_for(|stopping| *stopping).await;
                    };
                    if let Err(err) = axum::serve(listener, router)
                        .with_graceful_shutdown(stopped)
                        .await
                    {
                        tracing::error!(%err, "the metrics listener failed");
                    }
                }))
            }
            None => None,
        };
        let webhooks = tokio::spawn(crate::jobs::dispatch_webhooks(
            self.state.db.clone(),
            self.webhooks,
            self.state.webhooks.clone(),
            self.state.config.webhooks.poll_interval,
            stopping_rx.clone(),
        ));
        let lag_watch = (self.state.reports.is_replica()
            && !self.state.config.database_read_max_lag.is_zero())
        .then(|| {
            tokio::spawn(crate::jobs::watch_replica_lag(
                self.state.db.clone(),
                self.state.reports.clone(),
                self.state.config.database_read_max_lag,
                stopping_rx.clone(),
            ))
        });
        let relay = self.relay.map(|relay| {
            tokio::spawn(crate::jobs::relay_events(
                self.state.db.clone(),
                relay,
                self.state
                    .config
                    .events_nats
                    .as_ref()
                    .map_or(Duration::from_secs(1), |events| events.poll_interval),
                stopping_rx.clone(),
            ))
        });
        // The peer address feeds the per-client rate limits.
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, service).with_graceful_shutdown(shutdown);
        let deadline = async move {
            let _ = stopping_rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        // On an error too, the jobs are stopped and the pool closed before returning.
        let served = tokio::select! {
            result = serve => result.context("serving HTTP"),
            () = deadline => {
                tracing::warn!("requests still running after the grace period; stopping anyway");
                Ok(())
            }
        };
        pruning.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        // The jobs stop at their next step (each step is its own transaction); aborting
        // one mid-step only rolls that step back.
        for mut job in [jobs, dispatcher, webhooks]
            .into_iter()
            .chain(relay)
            .chain(lag_watch)
        {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut job)
                .await
                .is_err()
            {
                job.abort();
            }
        }
        self.state.lean.close().await;
        self.state.db.close().await;
        self.state.reports.pool().close().await;
        served
    }
}

/// The handlers' state for the primary `pool` and `config` (which says where the reports
/// read).
pub async fn app_state(pool: PgPool, config: Config) -> anyhow::Result<AppState> {
    let reports = db::reports_db(&config, &pool)?;
    let secret = jwt_secret(&config, &pool).await?;
    let otp_secret = match &config.otp_secret {
        Some(secret) => secret.clone(),
        None => {
            let candidate = auth::generate_secret();
            db::secrets::get_or_insert(&pool, OTP_SECRET_NAME, candidate.expose_secret())
                .await
                .context("loading the generated phone-code key")?
        }
    };
    let fraud_secret = match &config.fraud_hash_secret {
        Some(secret) => secret.clone(),
        None => {
            let candidate = auth::generate_secret();
            db::secrets::get_or_insert(&pool, FRAUD_HASH_SECRET_NAME, candidate.expose_secret())
                .await
                .context("loading the generated fraud hashing key")?
        }
    };
    Ok(AppState::new(
        pool,
        reports,
        config,
        &secret,
        &fraud_secret,
        &otp_secret,
    ))
}

/// `JWT_SECRET` if configured; otherwise the secret this installation generated the first
/// time it ran (kept in the database, so restarts, replicas and `bondhu token` agree).
/// There is no built-in fallback secret (TrustCart D13).
pub async fn jwt_secret(config: &Config, pool: &PgPool) -> anyhow::Result<SecretString> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    let candidate = auth::generate_secret();
    let secret = db::secrets::get_or_insert(pool, JWT_SECRET_NAME, candidate.expose_secret())
        .await
        .context("loading the generated JWT secret")?;
    tracing::warn!("JWT_SECRET is not set: using the secret generated for this database");
    Ok(secret)
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
