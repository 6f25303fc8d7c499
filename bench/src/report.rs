//! Figures: percentiles, a table for people, one JSON line per figure for machines.

use std::time::Duration;

use serde_json::json;

/// Latency samples of one measurement.
#[derive(Debug, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// Records one sample.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Adds all of `other`'s samples.
    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `q`-quantile (0.0..=1.0) in milliseconds, nearest-rank.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1].as_secs_f64() * 1000.0
    }

    /// The samples from `from` on (e.g. the last 10%).
    pub fn tail(&self, from: usize) -> Samples {
        Samples(self.0[from.min(self.0.len())..].to_vec())
    }
}

/// Prints one figure as a table row and as a JSON line.
pub fn figure(scenario: &str, name: &str, value: f64, unit: &str, context: serde_json::Value) {
    println!("{scenario:<10} {name:<42} {value:>12.2} {unit:<6} {context}");
    let line =
        json!({"scenario": scenario, "figure": name, "value": value, "unit": unit, "context": context});
    println!("JSON {line}");
}

/// A CPU figure per request or transaction: the total under `name`, and beside it the share of
/// it spent in the kernel, which separates a process's own work from what its system calls,
/// socket wake-ups and task switches cost.
pub fn cpu_figure(scenario: &str, name: &str, cpu: crate::cpu::Cpu, context: serde_json::Value) {
    figure(scenario, name, cpu.total(), "us", context.clone());
    figure(scenario, &format!("{name}, share in the kernel"), cpu.kernel_share() * 100.0, "%", context);
}
