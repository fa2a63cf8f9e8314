//! Arena-bench v1 (an early Arena-Hard): `question.jsonl` (`{question_id, category,
//! turns}`), `model_judgment/*.jsonl` (`{question_id, model, score}`) and
//! `model_answer/*.jsonl` (`{question_id, model_id, choices: [{turns: [answer]}]}`).
//!
//! - Score 1–10 (a JSON number or a string) → (s − 1) / 9; a missing, null or empty score
//!   is skipped and counted.
//! - The model is the record's `model` / `model_id` field, never the file name (files and
//!   names differ: `gpt-4-turbo.jsonl` holds `gpt-4-1106-preview`).
//! - Output tokens: the estimate of the model's answer text (all turns of its first
//!   choice); [`FALLBACK_OUTPUT_TOKENS`] when the model has no answer for the question.
//! - Answers of a model without any judgement are not outcomes: counted as skipped.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;

use crate::error::{LoadError, Location};
use crate::json::{self, LooseNumber, Question, QuestionId};
use crate::outcomes::{Outcome, SetBuilder};
use crate::report::reasons;
use crate::text;

pub const QUESTIONS: &str = "question.jsonl";
pub const JUDGMENTS_DIR: &str = "model_judgment";
pub const ANSWERS_DIR: &str = "model_answer";
/// Output tokens when a judged model's answer is not published (a typical arena answer).
pub const FALLBACK_OUTPUT_TOKENS: u32 = 400;

#[derive(Deserialize)]
struct Judgment {
    question_id: QuestionId,
    model: String,
    #[serde(default = "absent")]
    score: LooseNumber,
}

fn absent() -> LooseNumber {
    LooseNumber(None)
}

#[derive(Deserialize)]
struct Answer {
    question_id: QuestionId,
    model_id: String,
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    turns: Vec<String>,
}

/// `.jsonl` files directly in `dir`, sorted by name (missing folder → none).
pub(crate) fn jsonl_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| LoadError::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

type JudgmentRows = Vec<(PathBuf, usize, Judgment)>;

/// Load the arena-bench set in `dir`.
pub(crate) fn load(dir: &Path) -> Result<SetBuilder, LoadError> {
    let questions_path = dir.join(QUESTIONS);
    let text = json::read_text(&questions_path)?;
    let mut questions: Vec<Question> = Vec::new();
    json::for_each_line(&questions_path, &text, |line, q: Question| {
        if q.turns.is_empty() {
            return Err(LoadError::bad_field(
                &questions_path,
                Location::Line(line),
                "turns",
                "a question needs at least one turn",
            ));
        }
        questions.push(q);
        Ok(())
    })?;

    let answer_files = jsonl_files(&dir.join(ANSWERS_DIR))?;
    let answers: Vec<Vec<(QuestionId, String, u32)>> = answer_files
        .par_iter()
        .map(|path| {
            let text = json::read_text(path)?;
            let mut rows = Vec::new();
            json::for_each_line(path, &text, |_, a: Answer| {
                let tokens = a.choices.first().map_or(0, |c| {
                    c.turns.iter().map(|t| text::estimate_tokens(t)).sum()
                });
                rows.push((a.question_id, a.model_id, tokens));
                Ok(())
            })?;
            Ok(rows)
        })
        .collect::<Result<_, LoadError>>()?;
    let mut answer_tokens: HashMap<(QuestionId, String), u32> = HashMap::new();
    for (qid, model, tokens) in answers.into_iter().flatten() {
        answer_tokens.insert((qid, model), tokens);
    }

    let judgment_files = jsonl_files(&dir.join(JUDGMENTS_DIR))?;
    if judgment_files.is_empty() {
        return Err(LoadError::EmptySet {
            path: dir.join(JUDGMENTS_DIR),
            detail: "no judgment files".to_string(),
        });
    }
    let judgments: Vec<JudgmentRows> = judgment_files
        .par_iter()
        .map(|path| {
            let text = json::read_text(path)?;
            let mut rows = Vec::new();
            json::for_each_line(path, &text, |line, j: Judgment| {
                rows.push((path.clone(), line, j));
                Ok(())
            })?;
            Ok(rows)
        })
        .collect::<Result<_, LoadError>>()?;

    let mut set = SetBuilder::new("arena_bench", dir);
    let mut prompt_of: HashMap<QuestionId, u32> = HashMap::new();
    let by_id: HashMap<&QuestionId, &Question> =
        questions.iter().map(|q| (&q.question_id, q)).collect();
    let mut judged_models: HashSet<String> = HashSet::new();
    for (path, line, j) in judgments.into_iter().flatten() {
        judged_models.insert(j.model.clone());
        let Some(question) = by_id.get(&j.question_id) else {
            set.skip(reasons::UNKNOWN_QUESTION, 1);
            continue;
        };
        let Some(raw) = j.score.0 else {
            set.skip(reasons::MISSING_SCORE, 1);
            continue;
        };
        if !(1.0..=10.0).contains(&raw) {
            return Err(LoadError::ScoreOutOfRange {
                path,
                location: Location::Line(line),
                field: "score".to_string(),
                value: raw,
                min: 1.0,
                max: 10.0,
            });
        }
        let prompt = *prompt_of.entry(j.question_id.clone()).or_insert_with(|| {
            let turns: Vec<&str> = question.turns.iter().map(String::as_str).collect();
            set.prompt(text::join_turns(&turns), question.category.clone())
        });
        let output_tokens = answer_tokens
            .get(&(j.question_id.clone(), j.model.clone()))
            .copied()
            .unwrap_or(FALLBACK_OUTPUT_TOKENS);
        let model = set.model(&j.model);
        set.push(Outcome {
            prompt,
            model,
            score: (raw - 1.0) / 9.0,
            raw_score: raw,
            output_tokens,
            cost_usd: None,
        });
    }
    let unjudged = answer_tokens
        .keys()
        .filter(|(_, model)| !judged_models.contains(model))
        .count();
    set.skip(reasons::ANSWER_WITHOUT_JUDGEMENT, unjudged);
    Ok(set)
}
