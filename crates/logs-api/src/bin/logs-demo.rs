//! `logs-demo`: the log provider over an in-memory backend that a ticker fills with sample
//! lines for the functions `figlet` and `nodeinfo` (two instances each), so the HTTP surface can
//! be tried without journald, Kubernetes or Loki. All server flags apply (`--help`).

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use logs_api::{MemoryRequester, ServerArgs, Timestamp};

#[derive(Parser)]
#[command(
    version,
    about = "OpenFaaS log provider over generated in-memory sample logs"
)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Interval between generated lines per function instance.
    #[arg(long, env = "FAAS_LOGS_DEMO_INTERVAL", default_value = "1s", value_parser = logs_api::parse_duration)]
    interval: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logs_api::init_tracing(&cli.server);
    let requester = MemoryRequester::new();
    let namespace = cli.server.default_namespace.clone();
    let ticker = requester.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(cli.interval.max(Duration::from_millis(1)));
        for n in 0u64.. {
            tick.tick().await;
            for (name, instance) in [
                ("figlet", "figlet-0"),
                ("figlet", "figlet-1"),
                ("nodeinfo", "nodeinfo-0"),
            ] {
                let text = format!("{instance}: handled request {n}");
                ticker.push(&namespace, name, instance, Timestamp::now(), &text);
            }
        }
    });
    logs_api::serve(Arc::new(requester), cli.server).await?;
    Ok(())
}
