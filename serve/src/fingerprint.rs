//! Content hashes that name what made a decision (`policy` in the record): the router
//! artifact's bytes and the gateway configuration. Two records with the same hashes and the
//! same exploration settings were decided by the same policy; replay evaluation and
//! `train ingest` group traffic by them.

use std::path::Path;

use crate::config::Config;

pub use models::digest::sha256_hex;

/// The files of an artifact that decide its scores, in the order they are hashed.
pub const ARTIFACT_FILES: [&str; 2] = ["manifest.json", "router.onnx"];

/// SHA-256 of an artifact directory: [`ARTIFACT_FILES`]' bytes, in that order.
pub fn artifact_sha256(dir: &Path) -> std::io::Result<String> {
    let files = ARTIFACT_FILES
        .iter()
        .map(|name| std::fs::read(dir.join(name)))
        .collect::<std::io::Result<Vec<_>>>()?;
    let parts: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
    Ok(sha256_hex(&parts))
}

/// SHA-256 of the configuration's JSON form (defaults filled in, maps in key order), so
/// that two files that mean the same configuration hash alike.
pub fn config_sha256(config: &Config) -> String {
    match serde_json::to_vec(config) {
        Ok(bytes) => sha256_hex(&[&bytes]),
        // Serialising plain structs and maps cannot fail; the hash of nothing marks it.
        Err(_) => sha256_hex(&[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_published_test_vectors() {
        assert_eq!(
            sha256_hex(&[b"abc"]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_hex(&[b"a", b"bc"]), sha256_hex(&[b"abc"]));
        assert_eq!(
            sha256_hex(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn the_same_configuration_hashes_alike_and_a_change_shows() {
        let model = "[models.m]\ncontext_length = 8000\n[[models.m.providers]]\nname = \"p\"\nbase_url = \"http://127.0.0.1:9/v1\"\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n";
        let load =
            |routing: &str| Config::from_toml_str(&format!("{routing}{model}"), "t").unwrap();
        let a = load("");
        let b = load("[routing]\ndefault_objective = \"quality\"\n");
        assert_eq!(
            config_sha256(&a),
            config_sha256(&b),
            "the default spelled out"
        );
        let c = load("[routing]\ndefault_objective = \"cost\"\n");
        assert_ne!(config_sha256(&a), config_sha256(&c));
    }
}
