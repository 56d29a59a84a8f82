//! `logs-journald`: serves `GET /system/logs` from the systemd journal (`--help` for flags).

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(
    version,
    about = "OpenFaaS log provider reading function logs from the systemd journal"
)]
struct Cli {
    #[command(flatten)]
    server: logs_api::ServerArgs,
    #[command(flatten)]
    backend: logs_journald::Args,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logs_api::init_tracing(&cli.server);
    let requester =
        logs_journald::JournaldRequester::new(cli.backend).context("opening the journal")?;
    logs_api::serve(Arc::new(requester), cli.server).await?;
    Ok(())
}
