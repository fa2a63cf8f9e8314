//! Server-sent events pass-through: splits the upstream byte stream into events, rewrites
//! each chunk's `model` to the catalog name, captures `usage`, and drops the usage-only
//! chunk when the client did not ask for it (the gateway always asks upstream, so that
//! the audit record has the real token counts).

use bytes::Bytes;
use serde_json::Value;

use crate::audit::Usage;

/// The terminating event.
pub const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";

/// Incremental SSE parser and rewriter for one response.
#[derive(Debug)]
pub struct SseRewriter {
    buf: Vec<u8>,
    model: String,
    include_usage: bool,
    /// Usage from the final chunk, once seen.
    pub usage: Option<Usage>,
    /// `data: [DONE]` seen.
    pub done: bool,
    /// An `error` object the upstream sent inside the stream.
    pub error: Option<String>,
    /// Events emitted so far.
    pub events: usize,
}

impl SseRewriter {
    /// A rewriter that names `model` in every chunk.
    pub fn new(model: &str, include_usage: bool) -> SseRewriter {
        SseRewriter {
            buf: Vec::new(),
            model: model.to_string(),
            include_usage,
            usage: None,
            done: false,
            error: None,
            events: 0,
        }
    }

    /// Feeds upstream bytes; returns the complete events, rewritten, ready to send.
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some((end, delim)) = find_boundary(&self.buf) {
            let event: Vec<u8> = self.buf.drain(..end + delim).take(end).collect();
            self.process(&event, &mut out);
        }
        Bytes::from(out)
    }

    /// The upstream ended: processes a last event without its blank line.
    pub fn finish(&mut self) -> Bytes {
        let rest = std::mem::take(&mut self.buf);
        let mut out = Vec::new();
        if !rest.iter().all(u8::is_ascii_whitespace) {
            self.process(&rest, &mut out);
        }
        Bytes::from(out)
    }

    fn process(&mut self, event: &[u8], out: &mut Vec<u8>) {
        let text = String::from_utf8_lossy(event);
        let mut data: Vec<&str> = Vec::new();
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(rest) = line.strip_prefix("data:") {
                data.push(rest.strip_prefix(' ').unwrap_or(rest));
            }
        }
        if data.is_empty() {
            // Comments and keep-alives pass as they are.
            if !text.trim().is_empty() {
                out.extend_from_slice(text.trim_end().as_bytes());
                out.extend_from_slice(b"\n\n");
            }
            return;
        }
        let payload = data.join("\n");
        if payload.trim() == "[DONE]" {
            self.done = true;
            out.extend_from_slice(DONE_EVENT);
            self.events += 1;
            return;
        }
        let Ok(mut value) = serde_json::from_str::<Value>(&payload) else {
            // Not JSON: not ours to judge; forward unchanged.
            push_data(out, payload.as_bytes());
            self.events += 1;
            return;
        };
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
                        return;
                    }
                    obj.remove("usage");
                }
            }
        }
        match serde_json::to_vec(&value) {
            Ok(bytes) => push_data(out, &bytes),
            Err(_) => push_data(out, payload.as_bytes()),
        }
        self.events += 1;
    }
}

fn push_data(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\n\n");
}

/// The first event boundary: (end of the event, length of the delimiter).
fn find_boundary(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
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

    #[test]
    fn rewrites_model_across_split_chunks_and_drops_unrequested_usage() {
        let mut r = SseRewriter::new("catalog-name", false);
        let upstream = concat!(
            "data: {\"id\":\"1\",\"model\":\"up\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n",
            ": keep-alive\n\n",
            "data: {\"id\":\"1\",\"model\":\"up\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
            "data: [DONE]\n\n"
        )
        .as_bytes();
        let mut out = Vec::new();
        for piece in upstream.chunks(7) {
            out.extend_from_slice(&r.push(piece));
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
        let mut r = SseRewriter::new("m", true);
        let out = r.push(b"data: {\"model\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n");
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.contains("\"usage\""));
        assert_eq!(r.error.as_deref(), Some("boom"));
    }
}
