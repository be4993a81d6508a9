//! An error and its causes in one line, as the status, the events and the CLI show them.

use std::error::Error;

/// `error`, then each of its sources after ": ", like anyhow's `{:#}`, except that a
/// source whose words are already in the line is not said again: most of the product's
/// errors also say their cause, for the readers that show only `Display`.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{what}")]
    struct Wrapper {
        what: String,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_said_once() {
        let said = Wrapper {
            what: "reading wg0: permission denied".into(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied"),
        };
        assert_eq!(one_line(&said), "reading wg0: permission denied");
        let unsaid = Wrapper {
            what: "reading wg0".into(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied"),
        };
        assert_eq!(one_line(&unsaid), "reading wg0: permission denied");
    }
}
