//! Figures of a bench run: throughput, latency percentiles, per operation and in total.

use std::collections::BTreeMap;
use std::time::Duration;

/// One measured operation.
pub struct Sample {
    pub operation: &'static str,
    pub micros: u64,
    pub bytes: u64,
    pub ok: bool,
}

pub struct Figures {
    pub operations: usize,
    pub errors: usize,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

impl Figures {
    fn of<'a>(samples: impl Iterator<Item = &'a Sample>, elapsed: Duration) -> Self {
        let mut latencies = Vec::new();
        let (mut bytes, mut errors) = (0u64, 0usize);
        for sample in samples {
            latencies.push(sample.micros);
            bytes += sample.bytes;
            errors += usize::from(!sample.ok);
        }
        latencies.sort_unstable();
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let percentile = |fraction: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let index = ((latencies.len() as f64 * fraction).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[index] as f64 / 1000.0
        };
        Self {
            operations: latencies.len(),
            errors,
            ops_per_s: latencies.len() as f64 / seconds,
            mib_per_s: bytes as f64 / seconds / (1 << 20) as f64,
            p50_ms: percentile(0.50),
            p90_ms: percentile(0.90),
            p99_ms: percentile(0.99),
        }
    }
}

pub struct Report {
    target: String,
    workload: String,
    concurrency: usize,
    elapsed: Duration,
    total: Figures,
    by_operation: BTreeMap<&'static str, Figures>,
}

impl Report {
    pub fn new(target: &str, workload: &str, concurrency: usize, elapsed: Duration, samples: Vec<Sample>) -> Self {
        let total = Figures::of(samples.iter(), elapsed);
        let mut names: Vec<&'static str> = samples.iter().map(|sample| sample.operation).collect();
        names.sort_unstable();
        names.dedup();
        let by_operation =
            names.into_iter().map(|name| (name, Figures::of(samples.iter().filter(|sample| sample.operation == name), elapsed))).collect();
        Self { target: target.to_owned(), workload: workload.to_owned(), concurrency, elapsed, total, by_operation }
    }

    pub fn print(&self) {
        println!("{} {} with {} in flight for {:.1}s", self.target, self.workload, self.concurrency, self.elapsed.as_secs_f64());
        println!(
            "{:<8} {:>9} {:>7} {:>10} {:>10} {:>9} {:>9} {:>9}",
            "op", "count", "errors", "ops/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms"
        );
        let rows = self.by_operation.iter().map(|(name, figures)| (*name, figures)).chain(std::iter::once(("total", &self.total)));
        for (name, figures) in rows {
            println!(
                "{:<8} {:>9} {:>7} {:>10.1} {:>10.1} {:>9.2} {:>9.2} {:>9.2}",
                name,
                figures.operations,
                figures.errors,
                figures.ops_per_s,
                figures.mib_per_s,
                figures.p50_ms,
                figures.p90_ms,
                figures.p99_ms
            );
        }
    }

    /// The run as JSON: the total figures at the top level, then per operation.
    pub fn to_json(&self) -> String {
        let figures = |figures: &Figures| {
            format!(
                "\"operations\": {}, \"errors\": {}, \"ops_per_s\": {:.3}, \"mib_per_s\": {:.3}, \"p50_ms\": {:.3}, \"p90_ms\": {:.3}, \"p99_ms\": {:.3}",
                figures.operations, figures.errors, figures.ops_per_s, figures.mib_per_s, figures.p50_ms, figures.p90_ms, figures.p99_ms
            )
        };
        let by_operation: Vec<String> = self.by_operation.iter().map(|(name, one)| format!("\"{name}\": {{{}}}", figures(one))).collect();
        format!(
            "{{\"target\": {:?}, \"workload\": {:?}, \"concurrency\": {}, \"seconds\": {:.3}, {}, \"by_operation\": {{{}}}}}\n",
            self.target,
            self.workload,
            self.concurrency,
            self.elapsed.as_secs_f64(),
            figures(&self.total),
            by_operation.join(", ")
        )
    }
}
