//! The `bondhu` binary: the HTTP server and the operator's commands.

use std::process::ExitCode;

/// mimalloc rather than the system allocator: a request allocates and frees many small
/// buffers (headers, JSON, rows), and glibc's malloc and free were a tenth of the server's
/// CPU on the wallet read (bench/README.md, "Profiling").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    bondhu::cli::run().await
}
