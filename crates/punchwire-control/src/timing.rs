//! A length of time in the configuration (an interval, a poll period, a threshold):
//! never zero, written the way people write it (`30s`, `2m 30s`, `500ms`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A duration longer than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timing(Duration);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimingError {
    #[error("{input:?} is not a duration such as 30s, 500ms or 2m 30s: {source}")]
    NotADuration {
        input: String,
        #[source]
        source: humantime::DurationError,
    },
    #[error("must be longer than zero")]
    Zero,
}

impl Timing {
    /// For the defaults: `secs` must not be zero.
    pub const fn from_secs(secs: u64) -> Self {
        assert!(secs > 0, "a timing is longer than zero");
        Self(Duration::from_secs(secs))
    }

    pub fn new(duration: Duration) -> Result<Self, TimingError> {
        if duration.is_zero() {
            return Err(TimingError::Zero);
        }
        Ok(Self(duration))
    }

    pub const fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for Timing {
    type Err = TimingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let duration =
            humantime::parse_duration(s.trim()).map_err(|source| TimingError::NotADuration {
                input: s.to_owned(),
                source,
            })?;
        Self::new(duration)
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_duration(self.0).fmt(f)
    }
}

impl TryFrom<String> for Timing {
    type Error = TimingError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Timing> for String {
    fn from(t: Timing) -> Self {
        t.to_string()
    }
}

impl From<Timing> for Duration {
    fn from(t: Timing) -> Self {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_and_written_as_people_write_them() {
        assert_eq!(
            "1m 30s".parse::<Timing>().unwrap().get(),
            Duration::from_secs(90)
        );
        assert_eq!(
            "250ms".parse::<Timing>().unwrap().get(),
            Duration::from_millis(250)
        );
        assert_eq!(Timing::from_secs(150).to_string(), "2m 30s");
        assert_eq!("0s".parse::<Timing>(), Err(TimingError::Zero));
        let err = "soon".parse::<Timing>().unwrap_err().to_string();
        assert!(err.contains("\"soon\" is not a duration"), "{err}");
    }
}
