//! Token estimates without a tokenizer.
//!
//! [`estimate`] is `ceil(chars / 4)` — the rule of thumb OpenAI documents for English
//! and the same estimate MMLU-Pro's published `total_cost` columns use (characters / 4
//! as tokens, times the list price), so costs computed here agree with the data.
//! Characters are Unicode scalar values, not bytes.

/// Tokens added per chat message for the role and the message framing
/// (OpenAI's chat format spends 3–4 tokens per message).
pub const PER_MESSAGE_OVERHEAD: u32 = 4;

/// Tokens that prime the assistant's reply in a chat request.
pub const REPLY_PRIMING: u32 = 3;

/// Estimated tokens of a text: `ceil(chars / 4)`; 0 for the empty text.
pub fn estimate(text: &str) -> u32 {
    let chars = if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    };
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// Estimated prompt tokens of a chat request: the sum over `(role, content)` messages of
/// `estimate(content) + PER_MESSAGE_OVERHEAD`, plus `REPLY_PRIMING`; 0 for no messages.
pub fn estimate_messages(messages: &[(&str, &str)]) -> u32 {
    if messages.is_empty() {
        return 0;
    }
    messages
        .iter()
        .fold(REPLY_PRIMING, |acc, (_role, content)| {
            acc.saturating_add(estimate(content))
                .saturating_add(PER_MESSAGE_OVERHEAD)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_is_ceil_chars_over_four() {
        assert_eq!(estimate(""), 0);
        assert_eq!(estimate("a"), 1);
        assert_eq!(estimate("abcd"), 1);
        assert_eq!(estimate("abcde"), 2);
        assert_eq!(estimate(&"x".repeat(500)), 125);
    }

    #[test]
    fn estimate_counts_characters_not_bytes() {
        // 4 characters, 12 bytes.
        assert_eq!(estimate("日本語だ"), 1);
        assert_eq!(estimate("héllo"), 2);
    }

    #[test]
    fn messages_add_overhead() {
        assert_eq!(estimate_messages(&[]), 0);
        let one = estimate_messages(&[("user", "abcdefgh")]);
        assert_eq!(one, 2 + PER_MESSAGE_OVERHEAD + REPLY_PRIMING);
        let two = estimate_messages(&[("system", "be brief"), ("user", "abcdefgh")]);
        assert_eq!(two, one + 2 + PER_MESSAGE_OVERHEAD);
    }
}
