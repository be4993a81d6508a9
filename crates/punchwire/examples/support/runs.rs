//! What the benchmarks that repeat one measurement share: `--runs N`, and the figures
//! they print.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

/// `--runs N`, or `default` without arguments.
pub fn runs_from_args(bench: &str, default: usize) -> Result<usize> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(default),
        [flag, n] if flag == "--runs" => {
            let n: usize = n.parse().with_context(|| format!("--runs {n}"))?;
            ensure!(n > 0, "--runs must be at least 1");
            Ok(n)
        }
        _ => bail!("usage: {bench} [--runs N]   (default {default})"),
    }
}

/// Nearest-rank percentile: with 20 samples p99 is the largest, as it should be
/// (there is no 99th sample to interpolate towards).
pub fn percentile(values: &[Duration], p: usize) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}
