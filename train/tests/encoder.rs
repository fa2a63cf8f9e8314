//! The sentence encoder's forward pass and tokenizer (train::encoder, text::wordpiece)
//! against fixed sentences and against an independent computation: Hugging Face's
//! `tokenizers` package for the ids and a float64 numpy forward pass for the vectors
//! (`tests/support/encoder_reference.py`; python3 with the packages of ci/requirements.txt).

use std::io::Write;
use std::process::{Command, Stdio};

use train::encoder::bert::Encoder;
use train::encoder::files::encoder_dir;

const SENTENCES: [&str; 20] = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "What is 17 * 23?",
    "Translate 'Where is the train station?' into German.",
    "Write a haiku about autumn leaves.",
    "Prove that there are infinitely many prime numbers.",
    "SELECT name, SUM(total) FROM orders GROUP BY name ORDER BY 2 DESC LIMIT 10;",
    "def reverse(head):\n    prev = None\n    while head: head.next, prev, head = prev, head, head.next\n    return prev",
    "Café, naïve, résumé — Ångström's über-façade.",
    "東京は日本の首都です。",
    "Solve for x: 2x^2 - 8x + 6 = 0.",
    "Hi! How are you today?",
    "The mitochondria is the powerhouse of the cell.",
    "unaffable antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "My landlord kept my security deposit, citing normal wear and tear as damage. Can he do that in California?",
    "Emoji 🙂 and symbols © ® ™ and tabs\tand\nnewlines.",
    "Which of the following best describes the function of the Federal Reserve? (A) fiscal policy (B) monetary policy (C) trade (D) none",
    "   leading and trailing spaces   ",
    "x",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
];

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn the_encoder_gives_the_published_similarity() {
    let encoder = Encoder::load(&encoder_dir().unwrap()).unwrap();
    let v = encoder.embed(&SENTENCES[..2]);
    let cos: f32 = v.row(0).dot(&v.row(1));
    // The model card's example pair.
    assert!((cos - 0.755).abs() < 0.002, "cosine {cos}");
    for row in v.rows() {
        assert!((row.dot(&row) - 1.0).abs() < 1e-5, "unit length");
    }
}

#[test]
fn ids_and_vectors_match_an_independent_computation() {
    let dir = encoder_dir().unwrap();
    let encoder = Encoder::load(&dir).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/encoder_reference.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let input = serde_json::to_vec(&SENTENCES).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the reference script failed");
    let reference: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reference.len(), SENTENCES.len());
    let ours = encoder.embed(&SENTENCES);
    for (i, (sentence, r)) in SENTENCES.iter().zip(&reference).enumerate() {
        let ids: Vec<u32> = serde_json::from_value(r["ids"].clone()).unwrap();
        assert_eq!(encoder.input_ids(sentence), ids, "ids of {sentence:?}");
        let vector: Vec<f64> = serde_json::from_value(r["vector"].clone()).unwrap();
        let row = ours.row(i).to_vec();
        let cos = cosine(&row, &vector);
        assert!(
            cos >= 0.999,
            "{sentence:?}: cosine {cos} with the reference"
        );
    }
}
