//! Prompt identity, turn joining and token estimates: the workspace `text` crate's
//! functions (which `models` re-exports as `models::prompt_id`, `models::join_turns`,
//! `models::tokens::estimate`), so that a prompt hashes to the same id and costs the same
//! tokens in training data and in the request path without `datasets` linking `models`
//! (and ONNX Runtime). The tests pin the behaviour the canonical table relies on.

/// xxh3-64 of the prompt text as 16 lowercase hex digits.
pub fn prompt_id(text: &str) -> String {
    ::text::prompt_id(text)
}

/// User turns in order, joined by a blank line.
pub fn join_turns(turns: &[&str]) -> String {
    ::text::join_turns(turns)
}

/// Token estimate: ceil(characters / 4), characters counted as Unicode scalar values
/// (a documented approximation, about 4 characters per token for English).
pub fn estimate_tokens(text: &str) -> u32 {
    ::text::tokens::estimate(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_64;

    #[test]
    fn prompt_id_is_16_hex_digits_and_stable() {
        let id = prompt_id("hello");
        assert_eq!(id.len(), 16);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(id, format!("{:016x}", xxh3_64(b"hello")));
        assert_ne!(prompt_id("hello"), prompt_id("hello "));
    }

    #[test]
    fn estimate_rounds_up_on_characters() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a"), 1);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        // four multi-byte characters are one token, not three
        assert_eq!(estimate_tokens("éééé"), 1);
    }

    #[test]
    fn turns_join_with_blank_line() {
        assert_eq!(join_turns(&["a", "b"]), "a\n\nb");
        assert_eq!(join_turns(&["a"]), "a");
    }
}
