//! RouteLLM's MT-Bench judgements: `question.jsonl` (`{question_id, category, turns}`) and
//! `judgements.jsonl` (`{question_id, model, score, turn, user_prompt, ...}`, one per
//! question × turn × model).
//!
//! - Turn `t`'s prompt is the first `t` user turns joined in order (`join_turns`).
//! - Score 1–10 → (s − 1) / 9; `-1` means the judge failed: skipped and counted.
//! - Questions whose first turn is listed in `contaminated_prompts.jsonl` are dropped
//!   (both turns), as RouteLLM's evaluation does.
//! - Output tokens: the judged answer is quoted in the judge prompt (`user_prompt`); the
//!   answer of the judged turn is cut out of it and estimated. When the markers are not
//!   there, [`FALLBACK_OUTPUT_TOKENS`] is used.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::error::{LoadError, Location};
use crate::json::{self, LooseNumber, Question, QuestionId};
use crate::outcomes::{Outcome, SetBuilder};
use crate::report::reasons;
use crate::text;

pub const QUESTIONS: &str = "question.jsonl";
pub const JUDGEMENTS: &str = "judgements.jsonl";
pub const CONTAMINATED: &str = "contaminated_prompts.jsonl";
/// Output tokens when the judge prompt does not quote the answer (about the median
/// MT-Bench answer length of the two published models).
pub const FALLBACK_OUTPUT_TOKENS: u32 = 350;

#[derive(Deserialize)]
struct Judgement {
    question_id: QuestionId,
    model: String,
    score: LooseNumber,
    turn: u32,
    #[serde(default)]
    user_prompt: Option<String>,
}

/// Load the MT-Bench set in `dir`.
pub(crate) fn load(dir: &Path) -> Result<SetBuilder, LoadError> {
    let questions_path = dir.join(QUESTIONS);
    let judgements_path = dir.join(JUDGEMENTS);
    let contaminated_path = dir.join(CONTAMINATED);
    let contaminated = if contaminated_path.is_file() {
        json::contaminated_prompts(&contaminated_path)?
    } else {
        HashSet::new()
    };

    let mut questions: HashMap<QuestionId, Question> = HashMap::new();
    let text = json::read_text(&questions_path)?;
    json::for_each_line(&questions_path, &text, |line, q: Question| {
        if q.turns.is_empty() {
            return Err(LoadError::bad_field(
                &questions_path,
                Location::Line(line),
                "turns",
                "a question needs at least one turn",
            ));
        }
        questions.insert(q.question_id.clone(), q);
        Ok(())
    })?;

    let mut set = SetBuilder::new("mt_bench", dir);
    // (question, turn) → prompt index, so both models share one prompt entry.
    let mut prompt_of: HashMap<(QuestionId, u32), u32> = HashMap::new();
    let text = json::read_text(&judgements_path)?;
    json::for_each_line(&judgements_path, &text, |line, j: Judgement| {
        let location = Location::Line(line);
        let Some(question) = questions.get(&j.question_id) else {
            set.skip(reasons::UNKNOWN_QUESTION, 1);
            return Ok(());
        };
        let turn = j.turn as usize;
        if turn == 0 || turn > question.turns.len() {
            return Err(LoadError::bad_field(
                &judgements_path,
                location,
                "turn",
                format!(
                    "turn {} but question {} has {} turn(s)",
                    j.turn,
                    j.question_id.0,
                    question.turns.len()
                ),
            ));
        }
        if contaminated.contains(&question.turns[0]) {
            set.skip(reasons::CONTAMINATED, 1);
            return Ok(());
        }
        let Some(raw) = j.score.0 else {
            set.skip(reasons::MISSING_SCORE, 1);
            return Ok(());
        };
        if raw == -1.0 {
            set.skip(reasons::JUDGE_FAILED, 1);
            return Ok(());
        }
        if !(1.0..=10.0).contains(&raw) {
            return Err(LoadError::ScoreOutOfRange {
                path: judgements_path.clone(),
                location,
                field: "score".to_string(),
                value: raw,
                min: 1.0,
                max: 10.0,
            });
        }
        let prompt = *prompt_of
            .entry((j.question_id.clone(), j.turn))
            .or_insert_with(|| {
                let turns: Vec<&str> = question.turns[..turn].iter().map(String::as_str).collect();
                set.prompt(text::join_turns(&turns), question.category.clone())
            });
        let output_tokens = j
            .user_prompt
            .as_deref()
            .and_then(|p| judged_answer(p, turn))
            .map_or(FALLBACK_OUTPUT_TOKENS, text::estimate_tokens);
        let model = set.model(&j.model);
        set.push(Outcome {
            prompt,
            model,
            score: (raw - 1.0) / 9.0,
            raw_score: raw,
            output_tokens,
            cost_usd: None,
        });
        Ok(())
    })?;
    Ok(set)
}

/// The answer being judged, cut out of the judge prompt of FastChat's templates:
/// single-turn `[The Start of Assistant's Answer] … [The End of Assistant's Answer]`;
/// multi-turn: the last `### Assistant A:` section before the end marker.
fn judged_answer(judge_prompt: &str, turn: usize) -> Option<&str> {
    if turn == 1 {
        let start = "[The Start of Assistant's Answer]";
        let end = "[The End of Assistant's Answer]";
        let from = judge_prompt.find(start)? + start.len();
        let to = judge_prompt[from..].find(end)? + from;
        return Some(judge_prompt[from..to].trim());
    }
    let marker = "### Assistant A:";
    let end = "<|The End of Assistant A's Conversation with User|>";
    let to = judge_prompt.rfind(end)?;
    let from = judge_prompt[..to].rfind(marker)? + marker.len();
    Some(judge_prompt[from..to].trim())
}

#[cfg(test)]
mod tests {
    use super::judged_answer;

    #[test]
    fn cuts_single_and_multi_turn_answers() {
        let single =
            "x [The Start of Assistant's Answer]\nHello there\n[The End of Assistant's Answer]";
        assert_eq!(judged_answer(single, 1), Some("Hello there"));
        let multi = "### User:\nq1\n\n### Assistant A:\nfirst\n\n### User:\nq2\n\n### Assistant A:\nsecond\n\n<|The End of Assistant A's Conversation with User|>";
        assert_eq!(judged_answer(multi, 2), Some("second"));
        assert_eq!(judged_answer("no markers", 1), None);
    }
}
