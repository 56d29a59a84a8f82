//! How long the viewer takes to render a large history in headless Chromium, and how
//! responsive it is afterwards: `cargo bench -p browser-tests --bench render [-- LINES [RUNS]]`
//! (default 100,000 lines, 3 runs, each in a fresh browser). Needs Debian's `chromium`,
//! `chromium-driver` and `systemd-journal-remote`.

#[path = "../tests/support/mod.rs"]
mod support;

use support::*;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let lines: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let p = Provider::start(Options::default()).await;
    let batch = many_lines("big", lines);
    let last = batch.last().map(|l| l.text.clone()).unwrap_or_default();
    let started = std::time::Instant::now();
    p.write(batch).await;
    println!(
        "journal of {lines} lines written in {:?}",
        started.elapsed()
    );
    let mut figures = Vec::new();
    for run in 1..=runs {
        let b = Browser::start().await;
        let f = measure_render(&b, &p, "big", lines, &last).await;
        println!(
            "run {run}: all rendered {:.0} ms, longest frame {:.0} ms ({} over 50 ms), chip toggle {:.0} ms, \
             wrap toggle {:.0} ms, scroll {:.0} ms, {} rows kept, JS heap {:.0} MB ({})",
            f.all_rendered_ms,
            f.longest_frame_ms,
            f.long_frames,
            f.chip_toggle_ms,
            f.wrap_toggle_ms,
            f.scroll_ms,
            f.rows,
            f.heap_mb,
            f.status
        );
        figures.push(f);
        b.close().await;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "median of {runs}: all rendered {:.0} ms, longest frame {:.0} ms, chip toggle {:.0} ms, wrap toggle {:.0} ms",
        median(figures.iter().map(|f| f.all_rendered_ms).collect()),
        median(figures.iter().map(|f| f.longest_frame_ms).collect()),
        median(figures.iter().map(|f| f.chip_toggle_ms).collect()),
        median(figures.iter().map(|f| f.wrap_toggle_ms).collect()),
    );
    p.stop().await;
}
