//! The command line: `bondhu serve` (the default), `bondhu migrate`, `bondhu token`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::auth::{CUSTOMER_ROLE, JwtKeys, TokenKind};
use crate::config::Config;
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
        /// The customer id (for `customer`) or staff user id (for `admin`).
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
            let token = match role {
                TokenRole::Admin => keys.issue(TokenKind::User, id, "admin", None, None),
                TokenRole::Customer => {
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
    }
}
