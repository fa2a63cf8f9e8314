//! Prompt identity, turn joining and token estimates.
//!
//! These mirror `models::prompt_id`, `models::join_turns` and `models::tokens::estimate`
//! with identical behaviour (the contract in `docs/architecture.md`), so that a prompt
//! hashes to the same id in training data and in the request path.

use xxhash_rust::xxh3::xxh3_64;

/// xxh3-64 of the prompt text as 16 lowercase hex digits.
pub fn prompt_id(text: &str) -> String {
    format!("{:016x}", xxh3_64(text.as_bytes()))
}

/// User turns in order, joined by a blank line.
pub fn join_turns(turns: &[&str]) -> String {
    turns.join("\n\n")
}

/// Token estimate: ceil(characters / 4), characters counted as Unicode scalar values.
/// A documented approximation (about 4 characters per token for English BPE vocabularies).
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

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
