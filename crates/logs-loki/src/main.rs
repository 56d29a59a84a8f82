//! `logs-loki`: serves `GET /system/logs` from Grafana Loki (`--help`).

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(
    version,
    about = "OpenFaaS log provider reading function logs from Grafana Loki"
)]
struct Cli {
    #[command(flatten)]
    server: logs_api::ServerArgs,
    #[command(flatten)]
    backend: logs_loki::Args,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logs_api::init_tracing(&cli.server);
    let requester =
        logs_loki::LokiRequester::new(&cli.backend).context("configuring the Loki client")?;
    logs_api::serve(Arc::new(requester), cli.server).await?;
    Ok(())
}
