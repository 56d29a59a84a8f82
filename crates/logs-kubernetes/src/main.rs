//! `logs-kubernetes`: serves `GET /system/logs` from pod logs via the Kubernetes API (`--help`).

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(
    version,
    about = "OpenFaaS log provider reading function logs from Kubernetes pods"
)]
struct Cli {
    #[command(flatten)]
    server: logs_api::ServerArgs,
    #[command(flatten)]
    backend: logs_kubernetes::Args,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logs_api::init_tracing(&cli.server);
    let requester = logs_kubernetes::KubeRequester::new(cli.backend)
        .await
        .context("configuring the Kubernetes client")?;
    logs_api::serve(Arc::new(requester), cli.server).await?;
    Ok(())
}
