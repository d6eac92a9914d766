//! The `bondhu` binary: the HTTP server and the operator's commands.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    bondhu::cli::run().await
}
