//! Reading a chat-completions body: what the gateway needs (`model`, `route`, `models`,
//! `stream`, the message texts) is checked and taken out; everything else stays in the
//! `serde_json::Map` and passes through to the upstream unchanged.

use models::Objective;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ApiError, truncate_echo};

/// The model name that asks the gateway to route.
pub const AUTO_MODEL: &str = "auto";

/// Roles a chat message may have.
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// A parsed chat-completions request.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// The body without the gateway's own fields (`route`, `models`); `model` is rewritten
    /// per attempt.
    pub body: Map<String, Value>,
    /// `auto` or a catalog model.
    pub model: ModelChoice,
    /// The caller's routing preferences (only meaningful for `auto`).
    pub route: RouteOptions,
    /// OpenRouter-style `models: [...]`: restricts the candidates and orders the fallbacks.
    pub models: Vec<String>,
    /// `stream: true`.
    pub stream: bool,
    /// `stream_options.include_usage: true` — the client wants the final usage chunk.
    pub include_usage: bool,
    /// The messages' roles and text content, in order.
    pub messages: Vec<Message>,
}

/// Which model the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelChoice {
    /// `model: "auto"`.
    Auto,
    /// A model by name (checked against the catalog later).
    Named(String),
}

/// One message's role and text (text parts of multi-part content joined by newlines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `user`, `system`, …
    pub role: String,
    /// The text the message carries (empty for a tool-call-only assistant message).
    pub text: String,
}

/// The optional `route` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteOptions {
    /// `quality`, `cost`, `latency`, or weights; the config's default when absent.
    #[serde(default)]
    pub objective: Option<Objective>,
    /// Drop candidates whose estimated cost is higher.
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// Drop candidates whose predicted quality is lower.
    #[serde(default)]
    pub min_quality: Option<f64>,
    /// Only these models may be chosen.
    #[serde(default)]
    pub candidates: Option<Vec<String>>,
    /// These models may not be chosen.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `false`: no exploration for this request, whatever `[routing.explore]` says.
    #[serde(default)]
    pub explore: Option<bool>,
}

impl ChatRequest {
    /// The prompt the router scores: the user turns joined by a blank line
    /// (`models::join_turns`). System prompts are left out because the router was
    /// trained on benchmark prompts, which have none; they still count toward the
    /// token (cost) estimate.
    pub fn routed_prompt(&self) -> String {
        let turns: Vec<&str> = self
            .messages
            .iter()
            .filter(|m| m.role == "user")
            .map(|m| m.text.as_str())
            .collect();
        models::join_turns(&turns)
    }

    /// Estimated prompt tokens of the whole conversation (all roles).
    pub fn prompt_tokens(&self) -> u32 {
        let pairs: Vec<(&str, &str)> = self
            .messages
            .iter()
            .map(|m| (m.role.as_str(), m.text.as_str()))
            .collect();
        models::tokens::estimate_messages(&pairs)
    }
}

/// Parses a `/v1/chat/completions` or `/v1/route` body. Errors are 400s naming the field.
pub fn parse_chat_request(mut body: Map<String, Value>) -> Result<ChatRequest, ApiError> {
    let model = match body.get("model") {
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(ApiError::bad_param("model", "`model` is empty"));
        }
        Some(Value::String(s)) if s == AUTO_MODEL => ModelChoice::Auto,
        Some(Value::String(s)) => ModelChoice::Named(s.clone()),
        Some(other) => {
            return Err(ApiError::bad_param(
                "model",
                format!("`model` must be a string, got {}", type_name(other)),
            ));
        }
        None => {
            return Err(ApiError::bad_param(
                "model",
                "missing `model`: name a model, or \"auto\" to let the gateway route",
            ));
        }
    };

    let route = match body.remove("route") {
        None | Some(Value::Null) => RouteOptions::default(),
        Some(value @ Value::Object(_)) => parse_route(value)?,
        Some(other) => {
            return Err(ApiError::bad_param(
                "route",
                format!("`route` must be an object, got {}", type_name(&other)),
            ));
        }
    };

    let models = match body.remove("models") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut names = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) if !s.trim().is_empty() => names.push(s.clone()),
                    other => {
                        return Err(ApiError::bad_param(
                            format!("models[{i}]"),
                            format!(
                                "`models[{i}]` must be a model name, got {}",
                                type_name(other)
                            ),
                        ));
                    }
                }
            }
            if names.is_empty() {
                return Err(ApiError::bad_param("models", "`models` is an empty list"));
            }
            names
        }
        Some(other) => {
            return Err(ApiError::bad_param(
                "models",
                format!(
                    "`models` must be a list of model names, got {}",
                    type_name(&other)
                ),
            ));
        }
    };

    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::bad_param(
                "stream",
                format!("`stream` must be a boolean, got {}", type_name(other)),
            ));
        }
    };

    let include_usage = match body.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(opts)) => match opts.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(ApiError::bad_param(
                    "stream_options.include_usage",
                    format!(
                        "`stream_options.include_usage` must be a boolean, got {}",
                        type_name(other)
                    ),
                ));
            }
        },
        Some(other) => {
            return Err(ApiError::bad_param(
                "stream_options",
                format!(
                    "`stream_options` must be an object, got {}",
                    type_name(other)
                ),
            ));
        }
    };

    let messages = parse_messages(body.get("messages"))?;

    Ok(ChatRequest {
        body,
        model,
        route,
        models,
        stream,
        include_usage,
        messages,
    })
}

fn parse_route(value: Value) -> Result<RouteOptions, ApiError> {
    let route: RouteOptions = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let param = if path == "." {
            "route".to_string()
        } else {
            format!("route.{path}")
        };
        let inner = e.into_inner().to_string();
        let param = truncate_echo(&param);
        let message = describe_route_error(&param, &inner);
        ApiError::bad_param(param, message)
    })?;
    if let Some((field, v)) = route.objective.as_ref().and_then(Objective::invalid_weight) {
        return Err(ApiError::bad_param(
            format!("route.objective.{field}"),
            format!("`route.objective.{field}` must be a finite non-negative number, got {v}"),
        ));
    }
    if let Some(v) = route.max_cost_usd
        && !(v.is_finite() && v >= 0.0)
    {
        return Err(ApiError::bad_param(
            "route.max_cost_usd",
            format!("`route.max_cost_usd` must be a non-negative number, got {v}"),
        ));
    }
    if let Some(v) = route.min_quality
        && !(v.is_finite() && (0.0..=1.0).contains(&v))
    {
        return Err(ApiError::bad_param(
            "route.min_quality",
            format!("`route.min_quality` must be between 0 and 1, got {v}"),
        ));
    }
    if let Some(c) = &route.candidates
        && c.is_empty()
    {
        return Err(ApiError::bad_param(
            "route.candidates",
            "`route.candidates` is an empty list: nothing could be chosen",
        ));
    }
    Ok(route)
}

/// serde's message for a bad `route` field, in the API's words: no Rust type names
/// (`untagged enum ObjectiveSpec`, `f64`), and every echoed key or value cut short.
fn describe_route_error(param: &str, serde_message: &str) -> String {
    if serde_message.contains("untagged enum") {
        return format!(
            "invalid `{param}`: expected \"quality\", \"cost\", \"latency\" or weights such as {{\"quality\": 1.0, \"cost_per_usd\": 50.0, \"latency_per_s\": 0.0}}"
        );
    }
    let mut message = serde_message.to_string();
    for (rust, api) in [
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a sequence", "expected a list"),
        ("expected struct RouteOptions", "expected an object"),
        ("expected struct ObjectiveWeights", "expected an object"),
        ("invalid type: map", "invalid type: object"),
        ("invalid type: sequence", "invalid type: list"),
        ("floating point", "number"),
        ("unknown variant", "unknown value"),
    ] {
        message = message.replace(rust, api);
    }
    format!("invalid `{param}`: {}", truncate_quoted(&message))
}

/// `text` with every `` `…` `` or `"…"` part cut to [`truncate_echo`]'s length.
fn truncate_quoted(text: &str) -> String {
    let mut out = text.to_string();
    for quote in ['`', '"'] {
        out = out
            .split(quote)
            .enumerate()
            .map(|(i, part)| {
                if i % 2 == 1 {
                    truncate_echo(part)
                } else {
                    part.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(&quote.to_string());
    }
    out
}

fn parse_messages(value: Option<&Value>) -> Result<Vec<Message>, ApiError> {
    let items = match value {
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::bad_param(
                "messages",
                format!("`messages` must be a list, got {}", type_name(other)),
            ));
        }
        None => return Err(ApiError::bad_param("messages", "missing `messages`")),
    };
    if items.is_empty() {
        return Err(ApiError::bad_param(
            "messages",
            "`messages` is empty: send at least one message",
        ));
    }
    let mut messages = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(msg) = item else {
            return Err(ApiError::bad_param(
                format!("messages[{i}]"),
                format!("`messages[{i}]` must be an object, got {}", type_name(item)),
            ));
        };
        let role = match msg.get("role") {
            Some(Value::String(r)) if ROLES.contains(&r.as_str()) => r.clone(),
            Some(Value::String(r)) => {
                return Err(ApiError::bad_param(
                    format!("messages[{i}].role"),
                    format!(
                        "unknown role `{}` (expected one of {})",
                        truncate_echo(r),
                        ROLES.join(", ")
                    ),
                ));
            }
            Some(other) => {
                return Err(ApiError::bad_param(
                    format!("messages[{i}].role"),
                    format!(
                        "`messages[{i}].role` must be a string, got {}",
                        type_name(other)
                    ),
                ));
            }
            None => {
                return Err(ApiError::bad_param(
                    format!("messages[{i}].role"),
                    format!("missing `messages[{i}].role`"),
                ));
            }
        };
        let text = match msg.get("content") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => content_parts_text(parts, i)?,
            Some(other) => {
                return Err(ApiError::bad_param(
                    format!("messages[{i}].content"),
                    format!(
                        "`messages[{i}].content` must be a string or a list of parts, got {}",
                        type_name(other)
                    ),
                ));
            }
        };
        messages.push(Message { role, text });
    }
    if !messages.iter().any(|m| m.role == "user") {
        return Err(ApiError::bad_param(
            "messages",
            "`messages` has no `user` message: there is nothing to answer",
        ));
    }
    Ok(messages)
}

/// Text of a multi-part content: the `text` parts joined by newlines (images, audio and
/// files are forwarded but not scored).
fn content_parts_text(parts: &[Value], i: usize) -> Result<String, ApiError> {
    let mut texts = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let Value::Object(part) = part else {
            return Err(ApiError::bad_param(
                format!("messages[{i}].content[{j}]"),
                format!(
                    "`messages[{i}].content[{j}]` must be an object, got {}",
                    type_name(part)
                ),
            ));
        };
        match part.get("type") {
            Some(Value::String(t)) if t == "text" => match part.get("text") {
                Some(Value::String(s)) => texts.push(s.as_str()),
                _ => {
                    return Err(ApiError::bad_param(
                        format!("messages[{i}].content[{j}].text"),
                        format!("`messages[{i}].content[{j}].text` must be a string"),
                    ));
                }
            },
            Some(Value::String(_)) => {}
            _ => {
                return Err(ApiError::bad_param(
                    format!("messages[{i}].content[{j}].type"),
                    format!("`messages[{i}].content[{j}].type` must be a string"),
                ));
            }
        }
    }
    Ok(texts.join("\n"))
}

/// JSON type name for error messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ChatRequest, ApiError> {
        match v {
            Value::Object(m) => parse_chat_request(m),
            _ => unreachable!("test bodies are objects"),
        }
    }

    #[test]
    fn route_and_models_are_taken_out_and_the_rest_kept() {
        let req = parse(json!({
            "model": "auto",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            "route": {"objective": "cost", "max_cost_usd": 0.01},
            "models": ["a", "b"],
            "temperature": 0.2,
            "tools": [{"type": "function", "function": {"name": "f"}}],
        }))
        .unwrap();
        assert_eq!(req.model, ModelChoice::Auto);
        assert_eq!(req.models, vec!["a", "b"]);
        assert_eq!(req.route.max_cost_usd, Some(0.01));
        assert!(!req.body.contains_key("route"));
        assert!(!req.body.contains_key("models"));
        assert_eq!(req.body["temperature"], json!(0.2));
        assert!(req.body.contains_key("tools"));
        assert_eq!(req.routed_prompt(), "hi");
        assert!(req.prompt_tokens() > 0);
    }

    #[test]
    fn user_turns_are_joined_and_parts_read() {
        let req = parse(json!({
            "model": "x",
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": null, "tool_calls": []},
                {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url", "image_url": {"url": "u"}}]},
            ],
        }))
        .unwrap();
        assert_eq!(req.routed_prompt(), "first\n\nsecond");
        assert_eq!(req.model, ModelChoice::Named("x".into()));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                json!({"messages": [{"role": "user", "content": "a"}]}),
                "model",
            ),
            (json!({"model": 3, "messages": []}), "model"),
            (json!({"model": "auto", "messages": []}), "messages"),
            (
                json!({"model": "auto", "messages": [{"role": "user", "content": 5}]}),
                "messages[0].content",
            ),
            (
                json!({"model": "auto", "messages": [{"role": "robot", "content": "a"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "auto", "messages": [{"role": "user", "content": "a"}], "route": {"objective": "speed"}}),
                "route.objective",
            ),
            (
                json!({"model": "auto", "messages": [{"role": "user", "content": "a"}], "route": {"bogus": 1}}),
                "route",
            ),
            (
                json!({"model": "auto", "messages": [{"role": "user", "content": "a"}], "route": {"min_quality": 2.0}}),
                "route.min_quality",
            ),
            (
                json!({"model": "auto", "messages": [{"role": "user", "content": "a"}], "models": [1]}),
                "models[0]",
            ),
            (
                json!({"model": "auto", "messages": [{"role": "user", "content": "a"}], "stream": "yes"}),
                "stream",
            ),
        ];
        for (body, param) in cases {
            let err = parse(body.clone()).unwrap_err();
            let out = err.body();
            assert_eq!(err.status(), 400, "{body}");
            let got = out["error"]["param"].as_str().unwrap_or("");
            assert!(
                got.starts_with(param),
                "{body}: param {got} should start with {param}"
            );
        }
    }
}
