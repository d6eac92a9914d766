//! The command line: `bondhu serve` (the default), `bondhu migrate`, `bondhu token`,
//! `bondhu user create`, `bondhu api-key create|revoke`, `bondhu reconcile [--repair]`,
//! `bondhu partner-password`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::auth::{CUSTOMER_ROLE, JwtKeys, TokenKind, api_key, password};
use crate::config::Config;
use crate::domain::customer::normalise_email;
use crate::domain::phone::Phone;
use crate::startup::{self, Application};
use crate::{db, telemetry};

/// Bondhu: referral, wallet and loyalty server for cash-on-delivery shops.
///
/// Configuration comes from the environment and an optional `.env` file; see README.md.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the HTTP server (the default).
    Serve,
    /// Create the database if it is missing and apply the migrations, then exit.
    Migrate,
    /// Print a signed access token, for curl.
    Token {
        /// Whose token.
        #[arg(long, value_enum)]
        role: TokenRole,
        /// The customer id (for `customer`), staff user id (for `admin`), or the partner's
        /// id (a UUID) or code (for `partner`).
        #[arg(long)]
        id: String,
    },
    /// Set a referral partner's self-service password (`POST /api/partners/login` with the
    /// partner's code). The password is read from standard input (one line), or generated
    /// and printed when standard input is a terminal or empty. Clears the partner's login
    /// lock-out.
    PartnerPassword {
        /// The partner's id (a UUID) or code.
        #[arg(long)]
        partner: String,
    },
    /// Manage staff users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys of machine clients (the shop's order system, courier bridges).
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Check the money states the live paths should never leave: delivered first orders
    /// whose referral never completed, holds past their end never released, rewards on
    /// reversed orders never voided or clawed back, balances that differ from their
    /// ledger. Prints the report as JSON; exits 1 when something is left to look at.
    Reconcile {
        /// Repair the first three through the live paths' own functions (balances are
        /// only ever reported).
        #[arg(long)]
        repair: bool,
    },
    /// Print every fail-point, one a line: its name, a tab, the state a crash there
    /// leaves. Only in a build with the `failpoints` feature (scripts/chaos.sh).
    #[cfg(feature = "failpoints")]
    #[command(hide = true)]
    Failpoints,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a staff user. The password is read from standard input (one line), or
    /// generated and printed when standard input is a terminal or empty.
    Create {
        /// Role slug: super-admin, admin, marketing-manager, support-agent, order-desk,
        /// call-agent or call-centre-manager.
        #[arg(long)]
        role: String,
        /// Login email.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// The user's own mobile number: a call agent cannot refer it, nor can a colleague.
        #[arg(long)]
        phone: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Create a key and print it once; only its hash is stored.
    Create {
        /// What uses the key, e.g. "pathao-bridge".
        #[arg(long)]
        name: String,
        /// Permission slugs granted to the key (repeatable).
        #[arg(long = "permission", default_value = "edit-sales-orders")]
        permissions: Vec<String>,
    },
    /// Revoke a key by id.
    Revoke {
        /// The key's id, as printed when it was created.
        #[arg(long)]
        id: i32,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TokenRole {
    /// A staff token with the `admin` role: passes every permission.
    Admin,
    /// A customer's token: their own wallet and referrals.
    Customer,
    /// A referral partner's token: only its own report (`/api/partners/me/report`).
    Partner,
}

/// Runs the command line and returns the process's exit code.
pub async fn run() -> ExitCode {
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("error: .env: {err}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    #[cfg(feature = "failpoints")]
    match crate::failpoint::armed() {
        Ok(Some(armed)) => eprintln!("fail-point {} armed (hit {})", armed.name, armed.at),
        Ok(None) => {}
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(config.log_format);
    match execute(cli.command.unwrap_or(Command::Serve), config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "bondhu failed");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        #[cfg(feature = "failpoints")]
        Command::Failpoints => {
            for point in crate::failpoint::POINTS {
                println!("{}\t{}", point.name, point.state);
            }
            Ok(())
        }
        Command::Serve => {
            let app = Application::build(config).await?;
            app.run_until_stopped(startup::shutdown_signal()).await
        }
        Command::Migrate => {
            let pool = db::connect(&config).await?;
            db::migrate(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Token { role, id } => {
            let pool = db::connect(&config).await?;
            db::migrate(&pool).await?;
            let keys = JwtKeys::new(&startup::jwt_secret(&config, &pool).await?);
            let number = || -> anyhow::Result<i32> {
                id.trim()
                    .parse()
                    .with_context(|| format!("--id {id:?} is not an integer id"))
            };
            let token = match role {
                TokenRole::Admin => keys.issue(TokenKind::User, number()?, "admin", None, None),
                TokenRole::Partner => {
                    let partner = crate::service::partner_reports::partner_named(&pool, &id)
                        .await
                        .map_err(|e| anyhow::anyhow!("--id {id:?}: {e}"))?;
                    anyhow::ensure!(
                        partner.is_active,
                        "partner {} is inactive: its tokens are refused",
                        partner.code
                    );
                    keys.issue_partner(partner.id)
                }
                TokenRole::Customer => {
                    let id = number()?;
                    let contact = db::customers::find_contact(&pool, id)
                        .await?
                        .with_context(|| format!("customer {id} does not exist"))?;
                    keys.issue(
                        TokenKind::Customer,
                        id,
                        CUSTOMER_ROLE,
                        contact.email,
                        Some(contact.phone),
                    )
                }
            }
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{token}");
            Ok(())
        }
        Command::User(UserCommand::Create {
            role,
            email,
            name,
            phone,
        }) => {
            let pool = db::connect(&config).await?;
            db::migrate(&pool).await?;
            let email = normalise_email(&email)
                .ok()
                .flatten()
                .context("--email is not an email address")?;
            let phone = phone
                .map(|raw| Phone::parse(&raw))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--phone {e}"))?;
            let (password, generated) = read_or_generate_password()?;
            let hash = password::hash(password.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut tx = pool.begin().await?;
            let id = db::users::insert(&mut *tx, &email, name.as_deref(), &hash, &role)
                .await
                .context("creating the user (is the email already in use?)")?
                .with_context(|| format!("there is no role {role:?}"))?;
            if let Some(phone) = &phone {
                db::users::set_phone(&mut *tx, id, phone.as_str())
                    .await
                    .context("setting the phone (does another user have it?)")?;
            }
            tx.commit().await?;
            println!("created user {id} ({email}, role {role})");
            if generated {
                println!("password: {password}");
            }
            Ok(())
        }
        Command::ApiKey(ApiKeyCommand::Create { name, permissions }) => {
            let pool = db::connect(&config).await?;
            db::migrate(&pool).await?;
            anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
            let known = db::users::permissions(&pool, &permissions, false).await?;
            for permission in &permissions {
                anyhow::ensure!(
                    known.iter().any(|p| &p.slug == permission),
                    "unknown permission {permission:?}"
                );
            }
            let key = api_key::generate();
            let id = db::api_keys::insert(&pool, name.trim(), &key.prefix, &key.hash, &permissions)
                .await?;
            println!(
                "created API key {id} ({name}); send it as the X-Api-Key header. It is shown only now:"
            );
            println!("{}", key.key);
            Ok(())
        }
        Command::Reconcile { repair } => {
            let pool = db::connect(&config).await?;
            db::migrate(&pool).await?;
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} repairs ({eta} left)",
                )?
                .progress_chars("=> "),
            );
            bar.set_message(if repair { "reconciling" } else { "checking" });
            let progress = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let report = crate::service::reconcile::run(&pool, repair, "cli", &progress).await?;
            bar.finish_and_clear();
            let Some(report) = report else {
                anyhow::bail!("another instance is reconciling right now; try again later");
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
            anyhow::ensure!(
                report.is_clean(),
                "reconciliation found states to look at (see the report above)"
            );
            Ok(())
        }
        Command::PartnerPassword { partner } => {
            let pool = db::connect(&config).await?;
            db::migrate(&pool).await?;
            let found = crate::service::partner_reports::partner_named(&pool, &partner)
                .await
                .map_err(|e| anyhow::anyhow!("--partner {partner:?}: {e}"))?;
            let (password, generated) = read_or_generate_password()?;
            let set = crate::service::auth::set_partner_password(&pool, found.id, password.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "partner {} ({}) can log in with its code and the new password",
                set.code, set.partner_id
            );
            if generated {
                println!("password: {password}");
            }
            Ok(())
        }
        Command::ApiKey(ApiKeyCommand::Revoke { id }) => {
            let pool = db::connect(&config).await?;
            anyhow::ensure!(
                db::api_keys::revoke(&pool, id).await?,
                "no active API key {id}"
            );
            println!("revoked API key {id}");
            Ok(())
        }
    }
}

/// A password from standard input, or a generated one when there is none.
fn read_or_generate_password() -> anyhow::Result<(String, bool)> {
    use std::io::{IsTerminal, Read};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut input = String::new();
        stdin.lock().take(1024).read_to_string(&mut input)?;
        let password = input.lines().next().unwrap_or_default().to_owned();
        if !password.is_empty() {
            anyhow::ensure!(
                password.chars().count() >= crate::service::signup::MIN_PASSWORD_LEN,
                "the password must be at least {} characters long",
                crate::service::signup::MIN_PASSWORD_LEN
            );
            return Ok((password, false));
        }
    }
    let generated: String = rand::Rng::sample_iter(rand::rng(), &rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    Ok((generated, true))
}
