//! Similar reports at volume (`cargo bench --bench similar`): 10,000
//! synthetic reports recorded through `Store::record` into a database file
//! (the index written in each recording transaction), then 1,000 lookups of
//! a new report against all of them with `Store::suggest`, as intake does
//! for the team's alert. Prints p50/p99/max, how often the reworded report's
//! original came first, resident memory as the lookups go on, and the
//! database size. `BENCH_REPORTS` and `BENCH_QUERIES` change the sizes.

#[path = "common/similar.rs"]
mod similar;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench: the full run. `cargo test --benches`
    // (the suite) passes nothing: the same workload, small and unoptimised,
    // for correctness; its timings mean nothing.
    let full = std::env::args().any(|a| a == "--bench");
    let reports = env("BENCH_REPORTS", if full { 10_000 } else { 1_000 });
    let queries = env("BENCH_QUERIES", if full { 1_000 } else { 50 });
    let dir = tempfile::tempdir().unwrap();
    let rss_before = similar::rss_kib();
    let run = similar::run(dir.path(), reports, queries);
    println!("## Similar reports (`cargo bench --bench similar`)");
    println!();
    println!(
        "{} reports recorded in {:.1} s ({:.2} ms each, index included); database {:.1} MB",
        run.reports,
        run.insert.as_secs_f64(),
        run.insert.as_secs_f64() * 1000.0 / run.reports as f64,
        run.db_bytes as f64 / 1e6
    );
    println!(
        "{} lookups of a new report against all of them: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        run.lookups.len(),
        run.percentile(0.5).as_secs_f64() * 1000.0,
        run.percentile(0.99).as_secs_f64() * 1000.0,
        run.lookups.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
    );
    println!(
        "the reworded report's original first: {}/{}",
        run.found_first,
        run.lookups.len()
    );
    assert_eq!(run.found_first, run.lookups.len(), "every rewording's original first");
    println!(
        "resident memory: {} KiB before, {} KiB after each quarter of the lookups",
        rss_before,
        run.rss_kib.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
    );
}
