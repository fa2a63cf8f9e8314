//! Server-sent events pass-through: splits the upstream byte stream into events, rewrites
//! each chunk's `model` to the catalog name, captures `usage`, and drops the usage-only
//! chunk when the client did not ask for it (the gateway always asks upstream, so that
//! the audit record has the real token counts).

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::redact::Redactor;
use crate::audit::Usage;

/// The terminating event.
pub const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";

/// Incremental SSE parser and rewriter for one response.
#[derive(Debug)]
pub struct SseRewriter {
    buf: Vec<u8>,
    /// Where the search for the next boundary resumes in `buf`: bytes before it hold no
    /// boundary, so each byte is looked at about once however the stream is chunked.
    scanned: usize,
    max_event_bytes: usize,
    model: String,
    include_usage: bool,
    redactor: Arc<Redactor>,
    /// Usage from the final chunk, once seen.
    pub usage: Option<Usage>,
    /// `data: [DONE]` seen.
    pub done: bool,
    /// An `error` object the upstream sent inside the stream (redacted).
    pub error: Option<String>,
    /// Data events emitted so far.
    pub events: usize,
    /// Complete events seen so far, comments and keep-alives included (what proves that
    /// a stream is still alive).
    pub frames: usize,
}

/// An event grew past `upstream.max_event_bytes` without a boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTooLarge(pub usize);

impl std::fmt::Display for EventTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the upstream sent an event larger than {} bytes (`upstream.max_event_bytes`)",
            self.0
        )
    }
}

impl SseRewriter {
    /// A rewriter that names `model` in every chunk.
    pub fn new(
        model: &str,
        include_usage: bool,
        redactor: Arc<Redactor>,
        max_event_bytes: usize,
    ) -> SseRewriter {
        SseRewriter {
            buf: Vec::new(),
            scanned: 0,
            max_event_bytes,
            model: model.to_string(),
            include_usage,
            redactor,
            usage: None,
            done: false,
            error: None,
            events: 0,
            frames: 0,
        }
    }

    /// Feeds upstream bytes; returns the complete events, rewritten, ready to send. An
    /// error when the unfinished event passes the size limit.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Bytes, EventTooLarge> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        // A delimiter may straddle the previous chunk's end: back up by its length - 1.
        let mut from = self.scanned.saturating_sub(3).max(start);
        while let Some((end, delim)) = find_boundary(&self.buf, from) {
            let event = self.buf[start..end].to_vec();
            self.process(&event, &mut out);
            start = end + delim;
            from = start;
        }
        // One drain per chunk, not per event.
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > self.max_event_bytes {
            return Err(EventTooLarge(self.max_event_bytes));
        }
        Ok(Bytes::from(out))
    }

    /// The upstream ended: processes a last event without its blank line.
    pub fn finish(&mut self) -> Bytes {
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        let mut out = Vec::new();
        if !rest.iter().all(u8::is_ascii_whitespace) {
            self.process(&rest, &mut out);
        }
        Bytes::from(out)
    }

    fn process(&mut self, event: &[u8], out: &mut Vec<u8>) {
        self.frames += 1;
        let text = String::from_utf8_lossy(event);
        let mut data: Vec<&str> = Vec::new();
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(rest) = line.strip_prefix("data:") {
                data.push(rest.strip_prefix(' ').unwrap_or(rest));
            }
        }
        if data.is_empty() {
            // Comments and keep-alives pass as they are (minus any secret).
            if !text.trim().is_empty() {
                out.extend_from_slice(self.redactor.text(text.trim_end()).as_bytes());
                out.extend_from_slice(b"\n\n");
            }
            return;
        }
        self.events += 1;
        let payload = data.join("\n");
        if payload.trim() == "[DONE]" {
            self.done = true;
            out.extend_from_slice(DONE_EVENT);
            return;
        }
        let Ok(mut value) = serde_json::from_str::<Value>(&payload) else {
            // Not JSON: not ours to judge; forward it, minus any secret.
            push_data(out, self.redactor.text(&payload).as_bytes());
            return;
        };
        // Any event may echo a key, not only error events (a JSON string, a delta's
        // content, an unknown field): every string and object key is redacted before it
        // goes anywhere (the client, the record, the log).
        self.redactor.json(&mut value);
        if let Value::Object(obj) = &mut value {
            if let Some(err) = obj.get("error").filter(|e| !e.is_null()) {
                self.error = Some(
                    err.get("message")
                        .and_then(Value::as_str)
                        .map_or_else(|| err.to_string(), str::to_string),
                );
            }
            if obj.contains_key("model") {
                obj.insert("model".into(), Value::String(self.model.clone()));
            }
            if let Some(usage) = obj.get("usage").filter(|u| !u.is_null()) {
                self.usage = Usage::from_json(usage).or(self.usage);
                if !self.include_usage {
                    let choices_empty = obj
                        .get("choices")
                        .and_then(Value::as_array)
                        .is_none_or(Vec::is_empty);
                    if choices_empty {
                        // The usage-only chunk the client did not ask for.
                        self.events -= 1;
                        return;
                    }
                    obj.remove("usage");
                }
            }
        }
        match serde_json::to_vec(&value) {
            Ok(bytes) => push_data(out, &bytes),
            Err(_) => push_data(out, self.redactor.text(&payload).as_bytes()),
        }
    }
}

fn push_data(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\n\n");
}

/// The first event boundary at or after `from`: (end of the event, length of the delimiter).
fn find_boundary(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            return Some((i, 2));
        }
        if buf[i] == b'\r'
            && buf[i + 1] == b'\n'
            && buf.get(i + 2) == Some(&b'\r')
            && buf.get(i + 3) == Some(&b'\n')
        {
            return Some((i, 4));
        }
        i += 1;
    }
    None
}

/// An SSE event carrying an OpenAI-shaped error, sent when a stream fails after bytes
/// reached the client (the status line is already 200 by then).
pub fn error_event(message: &str, code: &str) -> Bytes {
    let body = serde_json::json!({
        "error": {"message": message, "type": "upstream_error", "param": null, "code": code}
    });
    let mut out = Vec::new();
    push_data(&mut out, body.to_string().as_bytes());
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewriter(model: &str, include_usage: bool) -> SseRewriter {
        let redactor = Redactor::new(["sk-secret-key".to_string()], Vec::new());
        SseRewriter::new(model, include_usage, Arc::new(redactor), 1024)
    }

    #[test]
    fn rewrites_model_across_split_chunks_and_drops_unrequested_usage() {
        let mut r = rewriter("catalog-name", false);
        let upstream = concat!(
            "data: {\"id\":\"1\",\"model\":\"up\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n",
            ": keep-alive\n\n",
            "data: {\"id\":\"1\",\"model\":\"up\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
            "data: [DONE]\n\n"
        )
        .as_bytes();
        let mut out = Vec::new();
        for piece in upstream.chunks(7) {
            out.extend_from_slice(&r.push(piece).unwrap());
        }
        out.extend_from_slice(&r.finish());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"model\":\"catalog-name\""), "{text}");
        assert!(!text.contains("\"up\""));
        assert!(!text.contains("usage"), "usage chunk dropped: {text}");
        assert!(text.contains(": keep-alive\n\n"));
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert!(r.done);
        assert_eq!(r.usage.unwrap().total_tokens, 4);
    }

    #[test]
    fn keeps_usage_when_asked_and_sees_errors() {
        let mut r = rewriter("m", true);
        let out = r.push(b"data: {\"model\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n").unwrap();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.contains("\"usage\""));
        assert_eq!(r.error.as_deref(), Some("boom"));
    }

    #[test]
    fn error_events_are_redacted_everywhere() {
        let mut r = rewriter("m", false);
        let out = r
            .push(b"data: {\"error\":{\"message\":\"bad key Bearer sk-secret-key\",\"sk-secret-key\":1}}\n\n: sk-secret-key\n\ndata: raw sk-secret-key\n\n")
            .unwrap();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(!text.contains("sk-secret-key"), "{text}");
        assert_eq!(text.matches("[redacted]").count(), 4, "{text}");
        assert_eq!(r.error.as_deref(), Some("bad key Bearer [redacted]"));
    }

    #[test]
    fn every_json_event_is_redacted_not_only_errors() {
        let mut r = rewriter("m", false);
        let out = r
            .push(b"data: \"Bearer sk-secret-key\"\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"sk-secret-key\"}}],\"x\":[\"sk-secret-key\"]}\n\n")
            .unwrap();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(!text.contains("sk-secret-key"), "{text}");
        assert_eq!(text.matches("[redacted]").count(), 3, "{text}");
        assert_eq!(r.error, None);
    }

    #[test]
    fn an_event_without_a_boundary_is_cut_at_the_limit() {
        let mut r = rewriter("m", false);
        let mut failed = None;
        for i in 0..100 {
            if let Err(e) = r.push(&[b'x'; 100]) {
                failed = Some((i, e));
                break;
            }
        }
        let (i, e) = failed.unwrap();
        assert_eq!(e, EventTooLarge(1024));
        assert_eq!(i, 10, "cut as soon as 1024 bytes are pending");
    }

    #[test]
    fn boundaries_split_across_every_chunk_position_are_found() {
        let stream = b"data: {\"a\":1}\r\n\r\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";
        for size in 1..stream.len() {
            let mut r = rewriter("m", false);
            let mut out = Vec::new();
            for piece in stream.chunks(size) {
                out.extend_from_slice(&r.push(piece).unwrap());
            }
            assert_eq!(r.events, 3, "chunk size {size}");
            assert!(r.done);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"
            );
        }
    }
}
