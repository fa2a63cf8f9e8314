//! SHA-256 as lowercase hex: the content hashes the manifest pins (the semantic table) and
//! the gateway's decision records carry (the router artifact, its configuration).

use sha2::{Digest, Sha256};

/// SHA-256 of the concatenated parts, as 64 lowercase hex digits.
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = hasher.finalize();
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
