//! The coarse task taxonomy the router predicts (`task_probs`) and reports in audit logs.
//!
//! Twelve tasks, fixed and ordered (an artifact's `manifest.tasks` normally equals
//! [`TASKS`]):
//!
//! | task | what it covers | examples |
//! |---|---|---|
//! | `math` | arithmetic, algebra, statistics, word problems | GSM8K, ZeroEval GSM8K and MATH, MMLU `*_mathematics`, MT-Bench math |
//! | `coding` | writing, reading or debugging code | MT-Bench coding, CRUXEval, HumanEval, MBPP, MMLU computer science |
//! | `reasoning` | logic puzzles, formal logic, fallacies | MT-Bench reasoning, MMLU `formal_logic`, CommonsenseQA |
//! | `stem` | natural sciences, engineering | MMLU physics/chemistry/biology, MMLU-Pro engineering, ARC, OpenBookQA |
//! | `health` | medicine, nutrition, anatomy | MMLU `clinical_knowledge`, MMLU-Pro health |
//! | `humanities` | history, philosophy, religion, law, ethics | MMLU `prehistory`, MMLU-Pro law, MT-Bench humanities |
//! | `social_science` | economics, business, psychology, politics | MMLU `*_economics`, MMLU-Pro business |
//! | `knowledge` | general facts and trivia | MMLU `global_facts`, MMLU-Pro other, TriviaQA, Natural Questions |
//! | `writing` | creative and professional writing | MT-Bench writing, CommonGen |
//! | `extraction` | pulling structured information out of text | MT-Bench extraction |
//! | `roleplay` | acting a persona, open conversation in character | MT-Bench roleplay |
//! | `general` | open-ended assistant requests | arena-bench, AlpacaEval, anything unknown |
//!
//! Why this list: it is the union of MT-Bench's categories (the finest labelled chat
//! taxonomy in the data) with the subject groups MMLU and MMLU-Pro are usually reported
//! by, merged until every task has enough prompts in the data to learn. Sets in the generic
//! long format whose categories name a public benchmark (LLMRouter's `human_eval`,
//! `trivia_qa`, …) map by that benchmark. Unknown datasets and categories map to `general`,
//! never to an error.

/// Version tag of this taxonomy (the task list and its order, which artifacts' `task_probs`
/// follow), recorded in the manifest's `task_mapping` beside the mapping a run used.
pub const TAXONOMY_VERSION: &str = "arbiter-tasks-v1";

/// The tasks, in the order of the scorer's `task_probs` output for artifacts built on this taxonomy.
pub const TASKS: [&str; 12] = [
    "math",
    "coding",
    "reasoning",
    "stem",
    "health",
    "humanities",
    "social_science",
    "knowledge",
    "writing",
    "extraction",
    "roleplay",
    "general",
];

/// The fallback task for open-ended prompts and unknown categories.
pub const GENERAL: &str = "general";

/// Index of `task` in [`TASKS`].
pub fn task_index(task: &str) -> Option<usize> {
    TASKS.iter().position(|t| *t == task)
}

/// The task of a prompt, from the dataset it comes from and its category (subject) there.
///
/// `dataset` is the canonical table's `dataset` value (`mmlu`, `gsm8k`, `mt_bench`,
/// `arena_bench`, `alpaca_eval`, `mmlu_pro`, `routerbench`, …); `category` the published
/// category: an MMLU subject (`abstract_algebra`, also accepted as `mmlu_abstract_algebra`),
/// an MMLU-Pro category (`computer science`, also as its `eval_name`
/// `mmlu-pro-computer science`), an MT-Bench category, arena's category, AlpacaEval's
/// `dataset` field. Matching ignores case and treats spaces, `-` and `_` alike.
/// Always returns a member of [`TASKS`].
pub fn task_for(dataset: &str, category: Option<&str>) -> &'static str {
    let dataset = normalise(dataset);
    let category = category.map(normalise);
    let category = category.as_deref().map(strip_source_prefix);
    match dataset.as_str() {
        "gsm8k" | "math" | "mgsm" | "zeroeval_gsm" | "zeroeval_math_l5" => "math",
        // CRUXEval: predict a Python function's output (or input).
        "zeroeval_crux" | "cruxeval" => "coding",
        "alpaca_eval" | "alpacaeval" | "arena_bench" | "arena_hard" => {
            category.map_or(GENERAL, chat_category_task)
        }
        "mt_bench" | "mtbench" => category.map_or(GENERAL, chat_category_task),
        "mmlu" => category.map_or("knowledge", mmlu_subject_task),
        "mmlu_pro" => category.map_or("knowledge", mmlu_pro_category_task),
        _ => category.map_or(GENERAL, any_category_task),
    }
}

/// Lowercase, with spaces and `-` turned into `_`, trimmed.
fn normalise(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// `mmlu_pro_math` → `math`, `mmlu_abstract_algebra` → `abstract_algebra`.
fn strip_source_prefix(category: &str) -> &str {
    category
        .strip_prefix("mmlu_pro_")
        .or_else(|| category.strip_prefix("mmlu_"))
        .unwrap_or(category)
}

/// A category of unknown provenance: try each known vocabulary, most specific first.
fn any_category_task(category: &str) -> &'static str {
    let chat = chat_category_task(category);
    if chat != GENERAL {
        return chat;
    }
    if let Some(task) = benchmark_task(category) {
        return task;
    }
    let pro = mmlu_pro_category_task(category);
    if pro != "knowledge" || category == "other" {
        return pro;
    }
    let subject = mmlu_subject_task(category);
    if subject != "knowledge" || category == "global_facts" || category == "miscellaneous" {
        return subject;
    }
    GENERAL
}

/// A category that names a public benchmark (as LLMRouter's tasks do): the task that
/// benchmark tests. `None` for a name not listed.
fn benchmark_task(category: &str) -> Option<&'static str> {
    Some(match category {
        // (`math` itself is MT-Bench's category, matched before this.)
        "gsm8k" | "mgsm" | "agentverse_mgsm" | "math_l5" | "svamp" | "aqua" => "math",
        "human_eval" | "humaneval" | "mbpp" | "cruxeval" | "crux" | "livecodebench" => "coding",
        "commonsense_qa"
        | "agentverse_logicgrid"
        | "logicgrid"
        | "hellaswag"
        | "winogrande"
        | "bbh" => "reasoning",
        "arc_challenge" | "arc_easy" | "openbook_qa" | "openbookqa" | "sciq" | "gpqa" => "stem",
        "mmlu" | "natural_qa" | "natural_questions" | "trivia_qa" | "triviaqa" => "knowledge",
        "commongen" => "writing",
        _ => return None,
    })
}

/// MT-Bench categories, arena's and AlpacaEval's source datasets.
fn chat_category_task(category: &str) -> &'static str {
    match category {
        "math" => "math",
        "coding" | "code" => "coding",
        "reasoning" => "reasoning",
        "stem" => "stem",
        "humanities" => "humanities",
        "writing" => "writing",
        "extraction" => "extraction",
        "roleplay" => "roleplay",
        // arena-bench v1 has one category named after itself; AlpacaEval's `dataset`
        // values (selfinstruct, oasst, koala, helpful_base, vicuna) are open-ended requests.
        _ => GENERAL,
    }
}

/// The 14 MMLU-Pro categories.
fn mmlu_pro_category_task(category: &str) -> &'static str {
    match category {
        "math" => "math",
        "computer_science" => "coding",
        "physics" | "chemistry" | "biology" | "engineering" => "stem",
        "health" => "health",
        "law" | "history" | "philosophy" => "humanities",
        "economics" | "business" | "psychology" => "social_science",
        _ => "knowledge",
    }
}

/// The 57 MMLU subjects.
fn mmlu_subject_task(subject: &str) -> &'static str {
    match subject {
        "abstract_algebra"
        | "college_mathematics"
        | "elementary_mathematics"
        | "high_school_mathematics"
        | "high_school_statistics" => "math",
        "college_computer_science"
        | "high_school_computer_science"
        | "computer_security"
        | "machine_learning" => "coding",
        "formal_logic" | "logical_fallacies" => "reasoning",
        "astronomy"
        | "college_biology"
        | "college_chemistry"
        | "college_physics"
        | "conceptual_physics"
        | "electrical_engineering"
        | "high_school_biology"
        | "high_school_chemistry"
        | "high_school_physics" => "stem",
        "anatomy"
        | "clinical_knowledge"
        | "college_medicine"
        | "human_aging"
        | "medical_genetics"
        | "nutrition"
        | "professional_medicine"
        | "virology" => "health",
        "high_school_european_history"
        | "high_school_us_history"
        | "high_school_world_history"
        | "prehistory"
        | "philosophy"
        | "world_religions"
        | "moral_disputes"
        | "moral_scenarios"
        | "business_ethics"
        | "international_law"
        | "jurisprudence"
        | "professional_law" => "humanities",
        "econometrics"
        | "high_school_macroeconomics"
        | "high_school_microeconomics"
        | "high_school_geography"
        | "high_school_government_and_politics"
        | "high_school_psychology"
        | "human_sexuality"
        | "management"
        | "marketing"
        | "professional_accounting"
        | "professional_psychology"
        | "public_relations"
        | "security_studies"
        | "sociology"
        | "us_foreign_policy" => "social_science",
        // global_facts, miscellaneous and anything unknown.
        _ => "knowledge",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MMLU_SUBJECTS: [&str; 57] = [
        "abstract_algebra",
        "anatomy",
        "astronomy",
        "business_ethics",
        "clinical_knowledge",
        "college_biology",
        "college_chemistry",
        "college_computer_science",
        "college_mathematics",
        "college_medicine",
        "college_physics",
        "computer_security",
        "conceptual_physics",
        "econometrics",
        "electrical_engineering",
        "elementary_mathematics",
        "formal_logic",
        "global_facts",
        "high_school_biology",
        "high_school_chemistry",
        "high_school_computer_science",
        "high_school_european_history",
        "high_school_geography",
        "high_school_government_and_politics",
        "high_school_macroeconomics",
        "high_school_mathematics",
        "high_school_microeconomics",
        "high_school_physics",
        "high_school_psychology",
        "high_school_statistics",
        "high_school_us_history",
        "high_school_world_history",
        "human_aging",
        "human_sexuality",
        "international_law",
        "jurisprudence",
        "logical_fallacies",
        "machine_learning",
        "management",
        "marketing",
        "medical_genetics",
        "miscellaneous",
        "moral_disputes",
        "moral_scenarios",
        "nutrition",
        "philosophy",
        "prehistory",
        "professional_accounting",
        "professional_law",
        "professional_medicine",
        "professional_psychology",
        "public_relations",
        "security_studies",
        "sociology",
        "us_foreign_policy",
        "virology",
        "world_religions",
    ];

    #[test]
    fn every_mmlu_subject_is_mapped_deliberately() {
        for subject in MMLU_SUBJECTS {
            let task = task_for("mmlu", Some(subject));
            assert!(TASKS.contains(&task));
            // Only the two general-knowledge subjects fall through to `knowledge`.
            if task == "knowledge" {
                assert!(
                    subject == "global_facts" || subject == "miscellaneous",
                    "{subject} fell through"
                );
            }
        }
        assert_eq!(task_for("mmlu", Some("abstract_algebra")), "math");
        assert_eq!(task_for("mmlu", Some("mmlu_abstract_algebra")), "math");
        assert_eq!(task_for("mmlu", Some("professional_law")), "humanities");
        assert_eq!(task_for("mmlu", Some("college_medicine")), "health");
        assert_eq!(task_for("mmlu", Some("high_school_physics")), "stem");
        assert_eq!(task_for("mmlu", Some("formal_logic")), "reasoning");
        assert_eq!(task_for("mmlu", Some("marketing")), "social_science");
        assert_eq!(task_for("mmlu", Some("machine_learning")), "coding");
    }

    #[test]
    fn mmlu_pro_categories_and_eval_names() {
        let cases = [
            ("math", "math"),
            ("physics", "stem"),
            ("chemistry", "stem"),
            ("biology", "stem"),
            ("engineering", "stem"),
            ("computer science", "coding"),
            ("health", "health"),
            ("law", "humanities"),
            ("history", "humanities"),
            ("philosophy", "humanities"),
            ("economics", "social_science"),
            ("business", "social_science"),
            ("psychology", "social_science"),
            ("other", "knowledge"),
        ];
        for (category, task) in cases {
            assert_eq!(task_for("mmlu_pro", Some(category)), task, "{category}");
            let eval_name = format!("mmlu-pro-{category}");
            assert_eq!(task_for("mmlu_pro", Some(&eval_name)), task, "{eval_name}");
        }
        assert_eq!(task_for("mmlu_pro", Some("computer_science")), "coding");
        assert_eq!(task_for("MMLU-Pro", Some("Computer Science")), "coding");
    }

    #[test]
    fn mt_bench_categories() {
        for category in [
            "writing",
            "roleplay",
            "reasoning",
            "math",
            "coding",
            "extraction",
            "stem",
            "humanities",
        ] {
            assert_eq!(task_for("mt_bench", Some(category)), category);
        }
    }

    #[test]
    fn open_ended_sets_are_general() {
        assert_eq!(task_for("arena_bench", Some("arena-bench-v1")), "general");
        for source in ["selfinstruct", "oasst", "koala", "helpful_base", "vicuna"] {
            assert_eq!(task_for("alpaca_eval", Some(source)), "general");
        }
        assert_eq!(task_for("alpaca_eval", None), "general");
    }

    #[test]
    fn gsm8k_is_math_and_unknowns_are_general() {
        assert_eq!(task_for("gsm8k", None), "math");
        assert_eq!(task_for("gsm8k", Some("anything")), "math");
        assert_eq!(task_for("my_eval_set", None), "general");
        assert_eq!(task_for("my_eval_set", Some("no idea")), "general");
        assert_eq!(task_for("routerbench", Some("mmlu-pro-law")), "humanities");
        assert_eq!(task_for("routerbench", Some("coding")), "coding");
        assert_eq!(task_for("routerbench", Some("abstract_algebra")), "math");
    }

    #[test]
    fn zeroeval_sets_are_math_and_coding() {
        assert_eq!(task_for("zeroeval_gsm", None), "math");
        assert_eq!(task_for("zeroeval_math_l5", Some("")), "math");
        assert_eq!(task_for("zeroeval_crux", None), "coding");
    }

    #[test]
    fn benchmark_named_categories_map_by_benchmark() {
        // LLMRouter's thirteen tasks, as its generic long-format file names them.
        let expected = [
            ("agentverse-logicgrid", "reasoning"),
            ("agentverse-mgsm", "math"),
            ("arc_challenge", "stem"),
            ("commongen", "writing"),
            ("commonsense_qa", "reasoning"),
            ("gsm8k", "math"),
            ("human_eval", "coding"),
            ("math", "math"),
            ("mbpp", "coding"),
            ("mmlu", "knowledge"),
            ("natural_qa", "knowledge"),
            ("openbook_qa", "stem"),
            ("trivia_qa", "knowledge"),
        ];
        for (category, task) in expected {
            assert_eq!(task_for("llmrouter", Some(category)), task, "{category}");
        }
    }

    #[test]
    fn task_index_matches_tasks() {
        for (i, task) in TASKS.iter().enumerate() {
            assert_eq!(task_index(task), Some(i));
        }
        assert_eq!(task_index("nope"), None);
    }
}
