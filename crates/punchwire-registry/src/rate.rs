//! How fast each source gets UDP responses: a token bucket per source, in the spirit of
//! response rate limiting (RRL), kept in a fixed table so that memory does not grow with
//! the number of sources.
//!
//! Only admitted sources get this far, and a spoofed source cannot reach a registry that
//! listens on the device's own address (see `listen`); the limit is what is left for the
//! rest: a peer, or a range given with `--allow`, that asks far faster than discovery
//! ever does, and a registry listening on a wildcard address. TCP needs no rate limit of
//! its own: its handshake proves the source, and its connections are capped (`tcp`).
//!
//! Timer-free: callers pass `now`, so tests choose the time.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Responses per second each source gets over UDP, with a burst on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseRate {
    /// Sustained responses per second to one source.
    pub per_second: u32,
    /// Responses one source may get at once after being quiet.
    pub burst: u32,
}

/// Discovery asks one SRV and one address per peer it looks up, and only for peers
/// without a recent handshake; a hundred a second with two hundred at once is well above
/// that, and holds a reflection through an admitted range to about that many responses.
pub const DEFAULT_RESPONSE_RATE: ResponseRate = ResponseRate {
    per_second: 100,
    burst: 200,
};

/// Sources tracked at once. A source that does not find its bucket gets a fresh one in the
/// fuller of the two slots it may use: a full bucket is no different from a fresh one, so
/// a flood of new sources evicts its own buckets, not the drained bucket of a source that
/// is being limited.
const BUCKETS: usize = 4096;

/// Every `SLIP`th response over the limit is sent as an empty TC=1 response instead of
/// nothing (RRL's "slip"), no bigger than the query: a real client retries over TCP,
/// which is not limited; a reflection gains nothing.
const SLIP: u32 = 2;

/// What to do with one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Send,
    /// Send an empty response with TC=1 in its place.
    Slip,
    Drop,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Whose bucket it is (see [`key`]); meaningless while `last` is `None`.
    key: u128,
    tokens: f64,
    last: Option<Instant>,
    /// Responses over the limit since the bucket was made, for the slip.
    over: u32,
}

/// Token buckets for every source, in a table of fixed size.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: ResponseRate,
    hasher: std::collections::hash_map::RandomState,
    buckets: Mutex<Vec<Bucket>>,
}

impl RateLimiter {
    pub fn new(rate: ResponseRate) -> Self {
        Self {
            rate,
            // Random keys: a source cannot pick addresses that land in a victim's slots.
            hasher: std::collections::hash_map::RandomState::new(),
            buckets: Mutex::new(vec![Bucket::default(); BUCKETS]),
        }
    }

    /// Takes one response's token from `source`'s bucket at `now`.
    pub fn check(&self, source: IpAddr, now: Instant) -> Verdict {
        let key = key(source);
        let hash = self.hasher.hash_one(key);
        let slots = [(hash as usize) % BUCKETS, ((hash >> 32) as usize) % BUCKETS];
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let slot = match slots
            .into_iter()
            .find(|&s| buckets[s].last.is_some() && buckets[s].key == key)
        {
            Some(found) => found,
            None => {
                let fuller = if self.tokens_at(&buckets[slots[1]], now)
                    > self.tokens_at(&buckets[slots[0]], now)
                {
                    slots[1]
                } else {
                    slots[0]
                };
                buckets[fuller] = Bucket {
                    key,
                    tokens: f64::from(self.rate.burst),
                    last: Some(now),
                    over: 0,
                };
                fuller
            }
        };
        let tokens = self.tokens_at(&buckets[slot], now);
        let bucket = &mut buckets[slot];
        bucket.tokens = tokens;
        bucket.last = Some(now.max(bucket.last.unwrap_or(now)));
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Verdict::Send;
        }
        bucket.over = bucket.over.wrapping_add(1);
        if bucket.over.is_multiple_of(SLIP) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

impl RateLimiter {
    /// The tokens `bucket` holds at `now`; an unused slot counts as fuller than any.
    fn tokens_at(&self, bucket: &Bucket, now: Instant) -> f64 {
        let Some(last) = bucket.last else {
            return f64::INFINITY;
        };
        let elapsed = now.saturating_duration_since(last);
        (bucket.tokens + elapsed.as_secs_f64() * f64::from(self.rate.per_second))
            .min(f64::from(self.rate.burst))
    }
}

/// One bucket per IPv4 address, and per IPv6 /64: a host commonly holds a whole /64, and
/// would otherwise get a bucket per address it picks. (Not per /24 and /56 as RRL does on
/// the open internet: a registry's admitted sources are tunnel addresses, and all of a
/// network's peers commonly sit in one /24.)
fn key(source: IpAddr) -> u128 {
    match source.to_canonical() {
        // As an IPv4-mapped address: no /64 prefix looks like it.
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6) & !u128::from(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const RATE: ResponseRate = ResponseRate {
        per_second: 10,
        burst: 5,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn sent(limiter: &RateLimiter, source: &str, n: usize, now: Instant) -> Vec<Verdict> {
        (0..n).map(|_| limiter.check(ip(source), now)).collect()
    }

    #[test]
    fn a_burst_is_answered_then_every_second_response_over_it_slips() {
        let limiter = RateLimiter::new(RATE);
        let now = Instant::now();
        let verdicts = sent(&limiter, "10.99.0.2", 9, now);
        use Verdict::*;
        assert_eq!(
            verdicts,
            [Send, Send, Send, Send, Send, Drop, Slip, Drop, Slip]
        );
    }

    #[test]
    fn tokens_come_back_at_the_rate_and_never_beyond_the_burst() {
        let limiter = RateLimiter::new(RATE);
        let start = Instant::now();
        sent(&limiter, "10.99.0.2", 5, start);
        assert_ne!(limiter.check(ip("10.99.0.2"), start), Verdict::Send);
        // 10 per second: one token per 100 ms.
        let later = start + Duration::from_millis(300);
        let verdicts = sent(&limiter, "10.99.0.2", 4, later);
        assert_eq!(
            verdicts.iter().filter(|v| **v == Verdict::Send).count(),
            3,
            "{verdicts:?}"
        );
        // A long quiet refills to the burst, not more.
        let much_later = later + Duration::from_secs(3600);
        let verdicts = sent(&limiter, "10.99.0.2", 7, much_later);
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Send).count(), 5);
    }

    #[test]
    fn each_source_has_its_own_bucket_and_an_ipv6_host_has_one_per_64() {
        let limiter = RateLimiter::new(RATE);
        let now = Instant::now();
        sent(&limiter, "10.99.0.2", 6, now);
        assert_eq!(limiter.check(ip("10.99.0.3"), now), Verdict::Send);
        assert_ne!(limiter.check(ip("::ffff:10.99.0.2"), now), Verdict::Send);

        sent(&limiter, "fd00:1:2:3::1", 5, now);
        assert_ne!(limiter.check(ip("fd00:1:2:3::ffff"), now), Verdict::Send);
        assert_eq!(limiter.check(ip("fd00:1:2:4::1"), now), Verdict::Send);
    }

    #[test]
    fn many_sources_cannot_refill_an_active_source() {
        let limiter = RateLimiter::new(RATE);
        let now = Instant::now();
        sent(&limiter, "10.99.0.2", 5, now);
        // Ten times the table's size in other sources, each asking once, a moment later.
        let later = now + Duration::from_millis(1);
        for i in 0..(BUCKETS as u32 * 10) {
            let other = std::net::Ipv4Addr::from(0x0a00_0000 + 0x0001_0000 + i);
            limiter.check(IpAddr::V4(other), later);
        }
        // Its drained bucket was never the fuller of two: it is still drained.
        assert_ne!(limiter.check(ip("10.99.0.2"), later), Verdict::Send);
        let memory = std::mem::size_of::<Bucket>() * BUCKETS;
        assert!(memory < 256 * 1024, "the table stays small: {memory} bytes");
    }
}
