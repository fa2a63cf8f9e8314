//! The one place secrets are taken out of upstream text. Every upstream byte that can reach
//! a client, a decision record or a log line and may carry a secret (error bodies, error
//! events, error texts) passes through [`Redactor`]: it knows every configured provider key,
//! every client key and every provider URL, and replaces each occurrence wherever it sits
//! (a JSON string, an object key, plain text), so that a key echoed by an upstream is
//! redacted whichever provider echoed it and wherever it put it.

use std::borrow::Cow;

use serde_json::Value;

/// What a secret becomes.
pub const REDACTED: &str = "[redacted]";
/// What a provider URL becomes (internal addresses are nobody's business but the operator's).
pub const UPSTREAM_URL: &str = "[upstream]";

/// Secrets shorter than this are not searched for: a 1–3 byte "key" would match ordinary
/// text everywhere (config validation refuses such keys for clients; provider keys come
/// from the environment and are used as they are).
const MIN_SECRET_LEN: usize = 4;

/// Replaces every configured secret in upstream text.
#[derive(Clone, Default)]
pub struct Redactor {
    /// (secret, replacement), longest first so that a key that contains another is
    /// replaced whole.
    secrets: Vec<(String, &'static str)>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor for these keys (replaced by [`REDACTED`]) and URLs (by [`UPSTREAM_URL`]).
    pub fn new<K, U>(keys: K, urls: U) -> Redactor
    where
        K: IntoIterator<Item = String>,
        U: IntoIterator<Item = String>,
    {
        let mut secrets: Vec<(String, &'static str)> = keys
            .into_iter()
            .map(|k| (k, REDACTED))
            .chain(urls.into_iter().map(|u| (u, UPSTREAM_URL)))
            .filter(|(s, _)| s.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        secrets.dedup_by(|a, b| a.0 == b.0);
        Redactor { secrets }
    }

    /// The text with every secret replaced; borrowed when there was none (the usual case).
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for (secret, replacement) in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), replacement));
            }
        }
        out
    }

    /// Raw bytes (an upstream body that may not be UTF-8), as redacted text.
    pub fn bytes(&self, bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes);
        self.text(&text).into_owned()
    }

    /// Every string and object key of a JSON value, in place.
    pub fn json(&self, value: &mut Value) {
        if self.secrets.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(clean) = self.text(s) {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Value::Object(map) => {
                let dirty_keys: Vec<String> = map
                    .keys()
                    .filter(|k| matches!(self.text(k), Cow::Owned(_)))
                    .cloned()
                    .collect();
                for key in dirty_keys {
                    if let Some(v) = map.remove(&key) {
                        map.insert(self.text(&key).into_owned(), v);
                    }
                }
                map.values_mut().for_each(|v| self.json(v));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// The part of a base URL that names the upstream (`scheme://host[:port]`), as reqwest
/// spells it, plus the base URL itself: what [`Redactor`] hides from clients.
pub fn url_forms(base_url: &str) -> Vec<String> {
    let mut forms = vec![base_url.trim_end_matches('/').to_string()];
    if let Ok(url) = reqwest::Url::parse(base_url) {
        forms.push(url.as_str().trim_end_matches('/').to_string());
        if let Some(host) = url.host_str() {
            match url.port() {
                Some(port) => {
                    forms.push(format!("{}://{host}:{port}", url.scheme()));
                    // Connection errors name the socket address alone.
                    forms.push(format!("{host}:{port}"));
                }
                None => forms.push(format!("{}://{host}", url.scheme())),
            }
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redactor() -> Redactor {
        Redactor::new(
            [
                "sk-live-abcdef".to_string(),
                "sk-live-abcdef-longer".to_string(),
            ],
            url_forms("http://10.0.0.7:9000/v1"),
        )
    }

    #[test]
    fn replaces_keys_longest_first_and_urls() {
        let r = redactor();
        assert_eq!(
            r.text(
                "Bearer sk-live-abcdef-longer and sk-live-abcdef at http://10.0.0.7:9000/v1/chat"
            ),
            "Bearer [redacted] and [redacted] at [upstream]/chat"
        );
        assert!(matches!(r.text("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_strings_and_keys() {
        let r = redactor();
        let mut v = json!({"error": {"message": "bad key sk-live-abcdef", "sk-live-abcdef": [1, "x sk-live-abcdef"]}});
        r.json(&mut v);
        let text = v.to_string();
        assert!(!text.contains("sk-live"), "{text}");
        assert_eq!(v["error"]["message"], "bad key [redacted]");
    }

    #[test]
    fn short_secrets_are_ignored() {
        let r = Redactor::new(["abc".to_string()], Vec::new());
        assert_eq!(r.text("abcabc"), "abcabc");
    }
}
