//! How a request and each of its upstream attempts ended: the `outcome` fields of the
//! decision record and the `outcome` label of the upstream metrics. Enums, so that a typo
//! in a `match` does not compile instead of silently releasing a breaker; serialised in
//! snake_case, the record's JSON as before.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The request's outcome (`DecisionRecord::outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOutcome {
    /// Still in flight (a streamed answer whose record was written before its end).
    Pending,
    /// `/v1/route`: decided, nothing forwarded.
    Routed,
    /// An upstream answered.
    Ok,
    /// Every attempt failed.
    UpstreamError,
    /// An upstream refused the request itself (a 4xx passed to the client).
    UpstreamRejected,
    /// Every candidate was excluded.
    NoCandidate,
    /// A stream failed or was cut short after its head was sent.
    StreamError,
    /// The client went away before the end of the answer.
    ClientDisconnected,
}

/// How one upstream attempt ended (`Attempt::outcome`, the metrics' `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Ok,
    /// A 4xx about the request: passed to the client, no fallback.
    Rejected,
    /// Not tried: missing key, open breaker.
    Skipped,
    ConnectError,
    Timeout,
    /// A status that means "try elsewhere" (5xx, 429, 401, …).
    HttpError,
    /// Not an answer: not JSON, not an object, a 200 carrying an error.
    BadResponse,
    /// Over `upstream.max_body_bytes` or `upstream.max_event_bytes`.
    TooLarge,
    StreamError,
}

/// How a streamed answer ended, after its head was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOutcome {
    /// `[DONE]` arrived.
    Ok,
    /// An error event, a failed read, an idle timeout or an end without `[DONE]`.
    StreamError,
    /// The client went away first (neither a success nor the upstream's fault).
    ClientDisconnected,
}

impl From<StreamOutcome> for RequestOutcome {
    fn from(end: StreamOutcome) -> RequestOutcome {
        match end {
            StreamOutcome::Ok => RequestOutcome::Ok,
            StreamOutcome::StreamError => RequestOutcome::StreamError,
            StreamOutcome::ClientDisconnected => RequestOutcome::ClientDisconnected,
        }
    }
}

impl AttemptOutcome {
    /// The snake_case name (metric label, record JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::Rejected => "rejected",
            AttemptOutcome::Skipped => "skipped",
            AttemptOutcome::ConnectError => "connect_error",
            AttemptOutcome::Timeout => "timeout",
            AttemptOutcome::HttpError => "http_error",
            AttemptOutcome::BadResponse => "bad_response",
            AttemptOutcome::TooLarge => "too_large",
            AttemptOutcome::StreamError => "stream_error",
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde() {
        for o in [
            AttemptOutcome::Ok,
            AttemptOutcome::Rejected,
            AttemptOutcome::Skipped,
            AttemptOutcome::ConnectError,
            AttemptOutcome::Timeout,
            AttemptOutcome::HttpError,
            AttemptOutcome::BadResponse,
            AttemptOutcome::TooLarge,
            AttemptOutcome::StreamError,
        ] {
            assert_eq!(
                serde_json::to_value(o).unwrap(),
                serde_json::json!(o.as_str())
            );
        }
        assert_eq!(
            serde_json::to_value(RequestOutcome::UpstreamRejected).unwrap(),
            serde_json::json!("upstream_rejected")
        );
        let back: RequestOutcome = serde_json::from_str(r#""client_disconnected""#).unwrap();
        assert_eq!(back, RequestOutcome::ClientDisconnected);
    }
}
