//! Prompt identity, turn joining, token estimates ([`tokens`]) and the cost of a call
//! ([`cost`]).
//!
//! These live in their own crate, below both `datasets` and `models`, so that a prompt
//! hashes to the same id and costs the same tokens in training data and in the request
//! path, and so that `datasets` (data-only builds) does not link `models` and with it
//! ONNX Runtime and its build-time download. `models` re-exports everything here
//! (`models::prompt_id`, `models::join_turns`, `models::tokens`), which stays the path
//! the gateway uses.

pub mod cost;
pub mod tokens;
pub mod wordpiece;

/// Stable identifier of a prompt: xxh3-64 of its UTF-8 bytes as 16 lowercase hex digits.
///
/// Used as the `prompt_id` column of the canonical outcome table, for the deterministic
/// train/validation/test split and in the gateway's audit records, so it must never change.
pub fn prompt_id(text: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// Joins the user turns of a multi-turn conversation into one prompt text, in order,
/// separated by a blank line (`"\n\n"`). Accepts `&[&str]` and `&[String]`.
pub fn join_turns<S: AsRef<str>>(turns: &[S]) -> String {
    let mut out = String::with_capacity(turns.iter().map(|t| t.as_ref().len() + 2).sum());
    for (i, turn) in turns.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str(turn.as_ref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_id_is_16_hex_digits_of_xxh3() {
        let id = prompt_id("What is 2+2?");
        assert_eq!(id.len(), 16);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(id, prompt_id("What is 2+2?"));
        assert_ne!(id, prompt_id("What is 2+3?"));
        // xxh3-64 of the empty input is a published constant.
        assert_eq!(prompt_id(""), "2d06800538d394c2");
    }

    #[test]
    fn prompt_id_values_are_pinned() {
        // Shipped artifacts, canonical tables and audit logs carry these ids: the values
        // themselves, not only their shape, must survive any refactor.
        assert_eq!(prompt_id("hello"), "9555e8555c62dcfd");
        assert_eq!(prompt_id("What is 2+2?"), "acc0df37b2b12e2e");
    }

    #[test]
    fn join_turns_uses_blank_lines() {
        assert_eq!(join_turns(&["a", "b", "c"]), "a\n\nb\n\nc");
        assert_eq!(join_turns(&["only"]), "only");
        assert_eq!(join_turns::<&str>(&[]), "");
        assert_eq!(
            join_turns(&[String::from("x"), String::from("y")]),
            "x\n\ny"
        );
    }
}
