//! What the soak prints: a line every 10 s while it runs, and the verdicts at the end.

use std::time::Duration;

use crate::load::{Bucket, BUCKET};

/// Buckets in one printed period (10 s).
const PERIOD: usize = 100;
/// After the flood, qps counts as back to normal from the first second (ten 100 ms
/// buckets, sliding) that answers at least this share of the pre-flood rate; the first
/// such second in which no query sent fails is shown too.
const BACK_TO_NORMAL: f64 = 0.9;
const RSS_TARGET_PERCENT: f64 = 5.0;
const RECOVERY_TARGET: Duration = Duration::from_secs(1);

/// The flood as scheduled and as it happened (ms since the load's start).
#[derive(Debug, Default)]
pub struct Flood {
    pub at: Duration,
    pub hold: Duration,
    /// When the first round was up: connections opened, and still held a second later.
    pub opened: Option<(u64, u64, u64)>,
    /// When all were closed: connects in all, attempts that failed.
    pub closed: Option<(u64, u64, u64)>,
}

/// Datagrams dropped so far at a full receive buffer.
#[derive(Debug, Default, Clone, Copy)]
pub struct Drops {
    pub registry: u64,
    pub load: u64,
    /// The registry's socket's receive buffer, bytes (`rb` in `ss`).
    pub registry_buffer: u64,
}

/// What was read of the registry's process over one period.
#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    /// The highest VmRSS (KiB) read in the period (once a bucket): it swings by the size of
    /// a snapshot as each refresh builds the next beside the current one, so a single
    /// reading says little.
    rss_max_kb: u64,
    /// Read at the period's end.
    drops: Drops,
}

/// Everything the load child reported, in order.
pub struct Report {
    buckets: Vec<Bucket>,
    /// Queries that failed, by the bucket they were sent in.
    failed_by_send: Vec<u64>,
    pub flood: Flood,
    /// One per printed period.
    samples: Vec<Sample>,
    /// The highest RSS read so far in the current period.
    rss_max_kb: u64,
    rss_ready: u64,
}

impl Report {
    pub fn new(flood: Flood, rss_ready: u64) -> Self {
        println!(
            "{:>5} | {:>9} {:>9} | {:>6} {:>9} {:>6} | {:>9} {:>9} | {:>7} | {:>11} | {:>15} |",
            "s",
            "sent qps",
            "answ qps",
            "errors",
            "servfail",
            "late",
            "malformed",
            "answered",
            "max ms",
            "max RSS KiB",
            "drops reg/load"
        );
        Self {
            buckets: Vec::new(),
            failed_by_send: Vec::new(),
            flood,
            samples: Vec::new(),
            rss_max_kb: 0,
            rss_ready,
        }
    }

    /// Takes the bucket `index` and the registry's RSS read as it came; at the end of each
    /// 10 s period, prints the period with the drops read by `drops`.
    pub fn add(&mut self, index: u64, bucket: Bucket, rss_kb: u64, drops: impl FnOnce() -> Drops) {
        let index = index as usize;
        if self.buckets.len() <= index {
            self.buckets.resize(index + 1, Bucket::default());
        }
        self.buckets[index] = bucket;
        self.rss_max_kb = self.rss_max_kb.max(rss_kb);
        if (index + 1).is_multiple_of(PERIOD) {
            let sample = Sample {
                rss_max_kb: std::mem::take(&mut self.rss_max_kb),
                drops: drops(),
            };
            let before = self.samples.last().map(|s| s.drops).unwrap_or_default();
            self.samples.push(sample);
            self.print_period(index + 1 - PERIOD, index + 1, sample, before);
        }
    }

    /// `count` queries sent in bucket `index` failed.
    pub fn failed_at_send(&mut self, index: usize, count: u64) {
        if self.failed_by_send.len() <= index {
            self.failed_by_send.resize(index + 1, 0);
        }
        self.failed_by_send[index] += count;
    }

    fn failed_in(&self, from: usize, to: usize) -> u64 {
        let to = to.min(self.failed_by_send.len());
        self.failed_by_send
            .get(from..to)
            .map_or(0, |f| f.iter().sum())
    }

    fn print_period(&self, from: usize, to: usize, sample: Sample, before: Drops) {
        let sum = self.sum(from, to);
        let seconds = (to - from) as f64 * BUCKET.as_secs_f64();
        let flooding = self.flood_overlaps(from, to);
        println!(
            "{:>5} | {:>9.0} {:>9.0} | {:>6} {:>9} {:>6} | {:>9} {:>9} | {:>7.1} | {:>11} | {:>15} |{}",
            (to as f64 * BUCKET.as_secs_f64()) as u64,
            sum.sent as f64 / seconds,
            sum.answered as f64 / seconds,
            sum.errors(),
            sum.servfail,
            sum.unanswered,
            sum.malformed_sent,
            sum.malformed_answered,
            sum.max_latency_us as f64 / 1000.0,
            sample.rss_max_kb,
            format!(
                "{}/{}",
                sample.drops.registry.saturating_sub(before.registry),
                sample.drops.load.saturating_sub(before.load)
            ),
            if flooding { " TCP flood" } else { "" }
        );
    }

    fn sum(&self, from: usize, to: usize) -> Bucket {
        let mut sum = Bucket::default();
        for bucket in self
            .buckets
            .get(from..to.min(self.buckets.len()))
            .unwrap_or(&[])
        {
            sum.add(bucket);
        }
        sum
    }

    fn flood_overlaps(&self, from: usize, to: usize) -> bool {
        let start = self.bucket_of(self.flood.at);
        let end = self.bucket_of(self.flood.at + self.flood.hold);
        from < end && start < to
    }

    fn bucket_of(&self, at: Duration) -> usize {
        (at.as_millis() / BUCKET.as_millis()) as usize
    }

    /// The verdicts.
    pub fn finish(&self, rate: u64, seconds: u64, reopen: bool) {
        let total = self.sum(0, self.buckets.len());
        println!();
        println!(
            "valid queries: {} sent (target {rate} qps for {seconds} s: {:.0} qps), {} answered, \
             {} errors: {} SERVFAIL, {} not answered within 2 s, {} wrong answers; {} sends failed",
            total.sent,
            total.sent as f64 / seconds as f64,
            total.answered,
            total.errors(),
            total.servfail,
            total.unanswered,
            total.wrong,
            total.send_failed
        );
        println!(
            "malformed packets: {} sent, {} answered (they may go unanswered)",
            total.malformed_sent, total.malformed_answered
        );
        println!(
            "errors for admitted queries: {} (target 0): {}",
            total.errors(),
            verdict(total.errors() == 0)
        );

        if let (Some(first), Some(last)) = (self.samples.first(), self.samples.last()) {
            println!(
                "datagrams dropped at a full receive buffer: {} at the registry's socket ({} KiB \
                 buffer), {} at the load generator's (4 MiB buffers)",
                last.drops.registry,
                last.drops.registry_buffer / 1024,
                last.drops.load
            );
            let (first, last) = (first.rss_max_kb, last.rss_max_kb);
            let change = 100.0 * (last as f64 - first as f64) / first as f64;
            println!(
                "registry RSS (highest of each 10 s, read every 100 ms): {} KiB when ready, \
                 {first} KiB in the first 10 s of load, {last} KiB in the last: {change:+.1}% \
                 (target within {RSS_TARGET_PERCENT}%): {}",
                self.rss_ready,
                verdict(change.abs() <= RSS_TARGET_PERCENT)
            );
        }
        self.finish_flood(reopen);
    }

    fn finish_flood(&self, reopen: bool) {
        let Some((closed_ms, connects, failed)) = self.flood.closed else {
            println!("the TCP flood did not report its end");
            return;
        };
        if let Some((ms, opened, held)) = self.flood.opened {
            println!(
                "TCP flood from 127.0.0.2: {opened} connections opened, of which the registry \
                 still held {held} a second later ({:.1} s); {connects} connects in all over {} s{}, \
                 {failed} attempts failed; all closed at {:.1} s",
                ms as f64 / 1000.0,
                self.flood.hold.as_secs(),
                if reopen {
                    " (closed ones reopened every second)"
                } else {
                    ""
                },
                closed_ms as f64 / 1000.0
            );
        }
        let flood_start = self.bucket_of(self.flood.at);
        let before = flood_start.saturating_sub(PERIOD);
        let pre = self.sum(before, flood_start).answered as f64 / (flood_start - before) as f64;
        let during = self
            .buckets
            .get(flood_start..self.bucket_of(Duration::from_millis(closed_ms)))
            .unwrap_or(&[]);
        let low = during.iter().map(|b| b.answered).min().unwrap_or(0);
        println!(
            "answered per 100 ms: {pre:.0} in the 10 s before the flood, lowest {low} ({:.0}%) during it",
            100.0 * low as f64 / pre
        );

        let end = (closed_ms / BUCKET.as_millis() as u64) as usize;
        println!(
            "queries failed by when they were sent: {} in the 10 s before the flood, {} during it, \
             {} in the 10 s after it",
            self.failed_in(before, flood_start),
            self.failed_in(flood_start, end),
            self.failed_in(end, end + PERIOD)
        );
        let window = (Duration::from_secs(1).as_millis() / BUCKET.as_millis()) as usize;
        let answering = |k: usize| {
            self.sum(k, k + window).answered as f64 / window as f64 >= BACK_TO_NORMAL * pre
        };
        let last = self.buckets.len().saturating_sub(window);
        let rate_back = (end..last).find(|&k| answering(k));
        let clean_back = (end..last).find(|&k| answering(k) && self.failed_in(k, k + window) == 0);
        let around = |from: usize, to: usize| -> String {
            let to = to.min(self.buckets.len());
            self.buckets
                .get(from..to)
                .unwrap_or(&[])
                .iter()
                .map(|b| b.answered.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "answered per 100 ms around the flood's end (|): {} | {}",
            around(end.saturating_sub(10), end),
            around(end, end + 20)
        );
        let after = |k: usize| {
            Duration::from_millis(
                ((k * BUCKET.as_millis() as usize) as u64).saturating_sub(closed_ms),
            )
        };
        let share = BACK_TO_NORMAL * 100.0;
        match rate_back {
            Some(k) => println!(
                "answered rate back to ≥ {share:.0}% of the pre-flood rate (over a sliding second) \
                 {} ms after the flood ended (target ≤ {} ms; 100 ms buckets): {}",
                after(k).as_millis(),
                RECOVERY_TARGET.as_millis(),
                verdict(after(k) <= RECOVERY_TARGET)
            ),
            None => println!(
                "the answered rate never came back to {share:.0}% of the pre-flood rate: MISSED"
            ),
        }
        match clean_back {
            Some(k) => println!(
                "and a whole second in which no query sent failed {} ms after it",
                after(k).as_millis()
            ),
            None => println!("and no second after it in which no query sent failed"),
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}
