//! The built-in catalog `cargo run -p serve` uses without `--config`: the router's own
//! candidates at their manifest prices, each at its public provider's OpenAI-compatible
//! endpoint (OpenAI for `gpt-*`, Anthropic's OpenAI-compatible endpoint for `claude-*`,
//! Google's for `gemini-*`, DeepSeek's, Mistral's for `Mistral-Large-*`, xAI's for `grok-*`,
//! Cohere's compatibility API for `command-r*`, the named provider for ZeroEval's
//! `model@hyperbolic|sambanova|together`, Together for other open-weights models), keys
//! from the usual environment variables (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`,
//! `GEMINI_API_KEY`, `DEEPSEEK_API_KEY`, `MISTRAL_API_KEY`, `XAI_API_KEY`,
//! `COHERE_API_KEY`, `HYPERBOLIC_API_KEY`, `SAMBANOVA_API_KEY`, `TOGETHER_API_KEY`). It lets a newcomer try the gateway (`/v1/route` needs no key
//! at all); production deployments write a config file.

use std::collections::BTreeMap;

use models::CandidateModel;

use crate::config::{Config, ModelConfig, ProviderConfig};

struct Endpoint {
    name: &'static str,
    base_url: &'static str,
    key_env: &'static str,
}

const OPENAI: Endpoint = Endpoint {
    name: "openai",
    base_url: "https://api.openai.com/v1",
    key_env: "OPENAI_API_KEY",
};
const ANTHROPIC: Endpoint = Endpoint {
    name: "anthropic",
    base_url: "https://api.anthropic.com/v1",
    key_env: "ANTHROPIC_API_KEY",
};
const GOOGLE: Endpoint = Endpoint {
    name: "google",
    base_url: "https://generativelanguage.googleapis.com/v1beta/openai",
    key_env: "GEMINI_API_KEY",
};
const DEEPSEEK: Endpoint = Endpoint {
    name: "deepseek",
    base_url: "https://api.deepseek.com/v1",
    key_env: "DEEPSEEK_API_KEY",
};
const MISTRAL: Endpoint = Endpoint {
    name: "mistral",
    base_url: "https://api.mistral.ai/v1",
    key_env: "MISTRAL_API_KEY",
};
const XAI: Endpoint = Endpoint {
    name: "xai",
    base_url: "https://api.x.ai/v1",
    key_env: "XAI_API_KEY",
};
const COHERE: Endpoint = Endpoint {
    name: "cohere",
    base_url: "https://api.cohere.ai/compatibility/v1",
    key_env: "COHERE_API_KEY",
};
const HYPERBOLIC: Endpoint = Endpoint {
    name: "hyperbolic",
    base_url: "https://api.hyperbolic.xyz/v1",
    key_env: "HYPERBOLIC_API_KEY",
};
const SAMBANOVA: Endpoint = Endpoint {
    name: "sambanova",
    base_url: "https://api.sambanova.ai/v1",
    key_env: "SAMBANOVA_API_KEY",
};
const TOGETHER: Endpoint = Endpoint {
    name: "together",
    base_url: "https://api.together.xyz/v1",
    key_env: "TOGETHER_API_KEY",
};

/// Which public endpoint serves a model, the name it knows it by, and its context window.
/// A `model@provider` name (ZeroEval's spelling of one open-weights model served by one
/// provider) goes to that provider under the bare model name.
fn endpoint_for(name: &str) -> (&'static Endpoint, String, u32) {
    if let Some((model, provider)) = name.rsplit_once('@') {
        let endpoint = match provider {
            "hyperbolic" => Some(&HYPERBOLIC),
            "sambanova" => Some(&SAMBANOVA),
            "together" => Some(&TOGETHER),
            _ => None,
        };
        if let Some(endpoint) = endpoint {
            return (endpoint, model.to_string(), 131_072);
        }
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("gpt") || lower.starts_with("text_davinci") {
        let upstream = match name {
            "gpt4_1106_preview" => "gpt-4-1106-preview".to_string(),
            "gpt35_turbo_instruct" => "gpt-3.5-turbo-instruct".to_string(),
            other => other.replace('_', "-"),
        };
        let ctx = if lower.contains("1106")
            || lower.starts_with("gpt-4o")
            || lower.contains("turbo") && lower.starts_with("gpt-4")
        {
            128_000
        } else if lower.starts_with("gpt-3.5") || lower.starts_with("gpt35") {
            16_385
        } else {
            8_192
        };
        return (&OPENAI, upstream, ctx);
    }
    if lower.starts_with("chatgpt-4o") {
        return (&OPENAI, "chatgpt-4o-latest".to_string(), 128_000);
    }
    if lower.starts_with("claude") {
        let ctx = if lower.contains("2.1") || lower.starts_with("claude-3") {
            200_000
        } else {
            100_000
        };
        return (&ANTHROPIC, name.to_string(), ctx);
    }
    if lower.starts_with("gemini") {
        let ctx = if lower.contains("pro") {
            2_000_000
        } else {
            1_000_000
        };
        return (&GOOGLE, name.to_string(), ctx);
    }
    if lower.starts_with("deepseek") {
        return (&DEEPSEEK, name.to_string(), 128_000);
    }
    if lower.starts_with("mistral-large") {
        return (&MISTRAL, name.to_string(), 128_000);
    }
    if lower.starts_with("grok") {
        return (&XAI, name.to_string(), 131_072);
    }
    if lower.starts_with("command-r") || lower.starts_with("c4ai-command-r") {
        return (&COHERE, name.to_string(), 128_000);
    }
    let ctx = if lower.contains("llama-3_1") || lower.contains("llama-3.1") {
        131_072
    } else if lower.contains("mixtral") || lower.contains("mistral") || lower.contains("qwen") {
        32_768
    } else if lower.contains("llama-3") || lower.contains("gemma") {
        8_192
    } else {
        4_096
    };
    (&TOGETHER, name.to_string(), ctx)
}

/// A config whose catalog is the router's priced candidates. Candidates without a price
/// are left out (the cost estimate would be meaningless); they show as unroutable.
pub fn builtin_config(candidates: &[CandidateModel]) -> Config {
    let mut models = BTreeMap::new();
    for c in candidates {
        let (Some(input), Some(output)) = (c.input_usd_per_mtok, c.output_usd_per_mtok) else {
            continue;
        };
        let (endpoint, upstream, context_length) = endpoint_for(&c.name);
        models.insert(
            c.name.clone(),
            ModelConfig {
                context_length,
                providers: vec![ProviderConfig {
                    name: Some(endpoint.name.to_string()),
                    base_url: endpoint.base_url.to_string(),
                    model: (upstream != c.name).then_some(upstream),
                    api_key_env: Some(endpoint.key_env.to_string()),
                    input_usd_per_mtok: input,
                    output_usd_per_mtok: output,
                    timeout_secs: 120.0,
                }],
            },
        );
    }
    Config {
        listen: crate::config::DEFAULT_LISTEN
            .parse()
            .unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 8080))),
        router_dir: crate::config::DEFAULT_ROUTER_DIR.into(),
        routing: Default::default(),
        auth: Default::default(),
        audit: Default::default(),
        limits: Default::default(),
        breaker: Default::default(),
        upstream: Default::default(),
        server: Default::default(),
        models,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(name: &str, price: Option<f64>) -> CandidateModel {
        CandidateModel {
            name: name.into(),
            input_usd_per_mtok: price,
            output_usd_per_mtok: price,
            expected_output_tokens: 200.0,
        }
    }

    #[test]
    fn maps_candidates_to_public_endpoints_and_validates() {
        let config = builtin_config(&[
            cand("gpt-4-1106-preview", Some(10.0)),
            cand("claude-2", Some(8.0)),
            cand("mistralai/Mixtral-8x7B-Instruct-v0.1", Some(0.6)),
            cand("mystery", None),
            cand("Llama-3.1-405B-Inst@hyperbolic", Some(4.0)),
            cand("claude-3-5-sonnet-20241022", Some(3.0)),
            cand("deepseek-v2.5-0908", Some(0.14)),
        ]);
        assert_eq!(config.models.len(), 6);
        let hyperbolic = &config.models["Llama-3.1-405B-Inst@hyperbolic"].providers[0];
        assert_eq!(hyperbolic.base_url, "https://api.hyperbolic.xyz/v1");
        assert_eq!(hyperbolic.model.as_deref(), Some("Llama-3.1-405B-Inst"));
        assert_eq!(
            config.models["claude-3-5-sonnet-20241022"].context_length,
            200_000
        );
        assert_eq!(
            config.models["deepseek-v2.5-0908"].providers[0]
                .api_key_env
                .as_deref(),
            Some("DEEPSEEK_API_KEY")
        );
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        let gpt = &config.models["gpt-4-1106-preview"].providers[0];
        assert_eq!(gpt.base_url, "https://api.openai.com/v1");
        assert_eq!(gpt.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
        assert_eq!(
            config.models["claude-2"].providers[0]
                .api_key_env
                .as_deref(),
            Some("ANTHROPIC_API_KEY")
        );
        assert_eq!(
            config.models["mistralai/Mixtral-8x7B-Instruct-v0.1"].providers[0].base_url,
            "https://api.together.xyz/v1"
        );
        assert_eq!(
            config
                .check_router_coverage(&["gpt-4-1106-preview".into(), "mystery".into()])
                .unwrap(),
            vec!["mystery".to_string()]
        );
    }
}
