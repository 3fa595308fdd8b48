//! The value rules of every request field and query parameter, written into the OpenAPI
//! document, so the contract states exactly what the server accepts: a request the document
//! allows is never refused for its shape (400), and one it forbids is refused. Rules the schema
//! language cannot state (byte sizes, metadata depth) answer `422 limit_exceeded` or are
//! described in the field's text.
//!
//! The server checks each value as sent (see `chat_threads_domain::values`); these patterns are
//! the same rules in JSON Schema. Whitespace means what Rust's `char::is_whitespace` means.

use serde_json::{Value, json};

/// Control characters: what `char::is_control` refuses.
const CONTROLS: &str = r"\u0000-\u001f\u007f-\u009f";
/// Whitespace that is not a control character.
const SPACES: &str = r"\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

fn no_nul() -> Value {
    json!({"pattern": r"^[^\u0000]*$"})
}

/// No control characters at all.
fn one_line(max_chars: u32) -> Value {
    json!({"pattern": format!("^[^{CONTROLS}]*$"), "maxLength": max_chars})
}

/// Text that may hold newlines and tabs but no other control character.
fn lines() -> Value {
    json!({"pattern": r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"})
}

/// An identifier: no control characters, not blank (the ends are trimmed when stored).
fn identifier(max_chars: u32) -> Value {
    json!({
        "pattern": format!("^[^{CONTROLS}]*[^{CONTROLS}{SPACES}][^{CONTROLS}]*$"),
        "maxLength": max_chars,
    })
}

/// A member: `user:` or `service:` and a subject that is not blank, as an identifier.
fn member_principal() -> Value {
    json!({
        "pattern": format!(
            "^[{SPACES}]*(user|service):[^{CONTROLS}]*[^{CONTROLS}{SPACES}][^{CONTROLS}]*$"
        ),
        "maxLength": 255,
    })
}

fn one_of(values: &[&str]) -> Value {
    json!({"enum": values})
}

fn range(min: i64, max: i64) -> Value {
    json!({"minimum": min, "maximum": max})
}

/// One `@`, a dot inside the domain, no whitespace or control characters inside, at most 254
/// characters (surrounding whitespace is trimmed).
fn email() -> Value {
    let ws = format!(r"[\u0009-\u000d\u0085{SPACES}]*");
    let part = format!("[^@{CONTROLS}{SPACES}]");
    let edge = format!("[^@.{CONTROLS}{SPACES}]");
    json!({
        "pattern": format!("^{ws}{part}+@{edge}{part}*\\.{part}*{edge}{ws}$"),
        "maxLength": 254,
    })
}

/// 10 to 128 characters, not one character repeated.
fn password() -> Value {
    json!({"pattern": r"^(?!([\s\S])\1*$)[\s\S]*$", "minLength": 10, "maxLength": 128})
}

/// Exactly one emoji: a single pictograph (sequences such as 👍🏽 are accepted too).
fn emoji() -> Value {
    json!({"pattern": "^[\u{2600}-\u{27bf}\u{1f300}-\u{1faff}]$"})
}

fn products() -> Value {
    json!({"pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"})
}

/// A metadata value: any JSON without NUL in keys or strings, at any depth (depth and size are
/// checked by the server: 32 levels, 1,024 keys and items, `limits.metadata_bytes`). Written as
/// "not something holding a NUL", where holding one means a string with a NUL, a key with one,
/// or an item or a value that is not itself a metadata value. Only `not` and a reference back to
/// this schema: generators of typed clients read it as "any value" (`unknown` in TypeScript —
/// no `$defs`, which openapi-typescript turned into a property), validators and fuzzers follow
/// the recursion.
fn metadata_value() -> Value {
    let this = "#/components/schemas/MetadataValue";
    json!({
        "description": "Any JSON value without NUL characters in keys or strings, at any depth.",
        "not": {
            "anyOf": [
                {"type": "string", "pattern": r"\u0000"},
                {"type": "array", "contains": {"not": {"$ref": this}}},
                {"type": "object", "not": {"propertyNames": {"pattern": r"^[^\u0000]*$"}}},
                {"type": "object", "not": {"additionalProperties": {"$ref": this}}},
            ]
        }
    })
}

fn metadata() -> Value {
    json!({
        "propertyNames": {"pattern": r"^[^\u0000]*$"},
        "additionalProperties": {"$ref": "#/components/schemas/MetadataValue"},
    })
}

/// Structured output: plain text, any JSON object, or JSON following a named schema.
fn response_format() -> Value {
    let kind = |name: &str| {
        json!({"type": "object", "required": ["type"],
                                   "properties": {"type": {"const": name}}})
    };
    let mut schema = kind("json_schema");
    schema["required"] = json!(["type", "json_schema"]);
    schema["properties"]["json_schema"] = json!({
        "type": "object",
        "required": ["name", "schema"],
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "schema": {"type": "object"},
            "strict": {"type": "boolean"},
            "description": {"type": "string"},
        },
    });
    json!({"oneOf": [{"type": "null"}, kind("text"), kind("json_object"), schema]})
}

/// A tool's name: what chat completions takes.
fn tool_name() -> Value {
    json!({"pattern": "^[A-Za-z0-9_-]{1,64}$"})
}

/// A call id, a tool's or a server's name in a part: 1 to 128 characters, no control characters.
fn part_id() -> Value {
    json!({"pattern": format!("^[^{CONTROLS}]{{1,128}}$")})
}

/// The rules of each kind of message part (`PartDto` is one object per kind, under `oneOf`).
fn part_rules(schema: &mut Value) {
    let rules = [
        ("call_id", part_id()),
        ("name", part_id()),
        ("server", part_id()),
        ("arguments", no_nul()),
        ("summary", no_nul()),
        ("encrypted_content", no_nul()),
        ("output", metadata_value_ref()),
    ];
    for variant in schema["oneOf"].as_array_mut().into_iter().flatten() {
        // Each kind takes its own fields only.
        variant["additionalProperties"] = Value::Bool(false);
        for (field, rule) in &rules {
            if let Some(property) = variant
                .get_mut("properties")
                .and_then(|p| p.get_mut(*field))
            {
                merge(property, rule);
            }
        }
    }
}

/// Any JSON value without NUL (a tool's output), as metadata values are written.
fn metadata_value_ref() -> Value {
    json!({"$ref": "#/components/schemas/MetadataValue"})
}

const TITLE: u32 = 200;
const ID: u32 = 255;
const MODEL: u32 = 200;
const HINT: u32 = 64;
const TAG: u32 = 64;
const FOLDER: u32 = 128;

/// A thread's tags: up to 32, each an identifier of up to 64 characters.
fn tags() -> Value {
    let mut item = identifier(TAG);
    item["type"] = json!("string");
    json!({"maxItems": chat_threads_domain::Tag::MAX_PER_THREAD, "items": item})
}

/// `(schema, field, rule)` for the fields of request bodies.
fn field_rules() -> Vec<(&'static str, &'static str, Value)> {
    let roles = || one_of(&["user", "assistant", "system", "tool"]);
    let tokens = || range(0, 10_000_000);
    vec![
        ("CreateThreadBody", "title", one_line(TITLE)),
        ("CreateThreadBody", "product", products()),
        ("CreateThreadBody", "org_id", identifier(ID)),
        ("CreateThreadBody", "document_id", identifier(ID)),
        ("CreateThreadBody", "external_id", identifier(ID)),
        ("CreateThreadBody", "system_prompt", lines()),
        ("CreateThreadBody", "model", identifier(MODEL)),
        ("CreateThreadBody", "metadata", metadata()),
        ("CreateThreadBody", "tags", tags()),
        ("UpdateThreadBody", "tags", tags()),
        ("CreateFolderBody", "name", identifier(FOLDER)),
        ("CreateFolderBody", "system_prompt", lines()),
        ("CreateFolderBody", "model", identifier(MODEL)),
        ("UpdateFolderBody", "name", identifier(FOLDER)),
        ("UpdateFolderBody", "system_prompt", lines()),
        ("UpdateFolderBody", "model", identifier(MODEL)),
        ("RenameTagBody", "name", identifier(TAG)),
        ("CreateShareBody", "mode", one_of(&["snapshot", "live"])),
        (
            "CreateShareBody",
            "audience",
            one_of(&["public", "signed_in", "org"]),
        ),
        ("CreateShareBody", "display_name", identifier(64)),
        ("AddMemberBody", "principal", member_principal()),
        ("AddMemberBody", "role", one_of(&["viewer", "editor"])),
        ("PolicyBody", "product", products()),
        ("PolicyBody", "delete_inactive_after_days", range(1, 36_500)),
        ("PolicyBody", "erase_deleted_after_days", range(1, 36_500)),
        ("HoldBody", "principal", member_principal()),
        ("HoldBody", "reason", identifier(500)),
        ("UpdateThreadBody", "title", one_line(TITLE)),
        (
            "UpdateThreadBody",
            "status",
            one_of(&["active", "archived"]),
        ),
        ("UpdateThreadBody", "system_prompt", lines()),
        ("UpdateThreadBody", "model", identifier(MODEL)),
        ("UpdateThreadBody", "metadata", metadata()),
        ("AppendMessageBody", "role", roles()),
        ("AppendMessageBody", "content", no_nul()),
        (
            "AppendMessageBody",
            "content_type",
            one_of(&["text", "json", "image", "file"]),
        ),
        ("AppendMessageBody", "display_text", no_nul()),
        ("AppendMessageBody", "model", identifier(MODEL)),
        ("AppendMessageBody", "prompt_tokens", tokens()),
        ("AppendMessageBody", "completion_tokens", tokens()),
        ("AppendMessageBody", "metadata", metadata()),
        ("EditMessageBody", "content", no_nul()),
        ("EditMessageBody", "display_text", no_nul()),
        ("EditMessageBody", "metadata", metadata()),
        ("PatchMessageBody", "content", no_nul()),
        ("PatchMessageBody", "display_text", no_nul()),
        ("PatchMessageBody", "metadata", metadata()),
        ("FeedbackDto", "rating", one_of(&["up", "down"])),
        ("FeedbackDto", "text", {
            let mut v = lines();
            v["maxLength"] = json!(2000);
            v
        }),
        ("ReactionBody", "emoji", emoji()),
        ("ChatBody", "content", no_nul()),
        ("ChatBody", "model", identifier(MODEL)),
        ("ChatBody", "metadata", metadata()),
        ("ChatBody", "language", one_line(HINT)),
        ("ChatBody", "timezone", one_line(HINT)),
        ("ToolDto", "name", tool_name()),
        ("ToolDto", "description", no_nul()),
        ("NamedTool", "name", tool_name()),
        ("ToolResultDto", "call_id", part_id()),
        ("ToolResultDto", "output", metadata_value_ref()),
        ("ToolResultsBody", "model", identifier(MODEL)),
        ("ToolResultsBody", "language", one_line(HINT)),
        ("ToolResultsBody", "timezone", one_line(HINT)),
        ("ToolResultsBody", "metadata", metadata()),
        ("ResendBody", "content", no_nul()),
        ("ResendBody", "model", identifier(MODEL)),
        ("ResendBody", "metadata", metadata()),
        ("ResendBody", "language", one_line(HINT)),
        ("ResendBody", "timezone", one_line(HINT)),
        ("RegenerateBody", "model", identifier(MODEL)),
        ("RegenerateBody", "language", one_line(HINT)),
        ("RegenerateBody", "timezone", one_line(HINT)),
        (
            "SamplingDto",
            "temperature",
            json!({"minimum": 0, "maximum": 2}),
        ),
        (
            "SamplingDto",
            "top_p",
            json!({"exclusiveMinimum": 0, "maximum": 1}),
        ),
        (
            "SamplingDto",
            "presence_penalty",
            json!({"minimum": -2, "maximum": 2}),
        ),
        (
            "SamplingDto",
            "frequency_penalty",
            json!({"minimum": -2, "maximum": 2}),
        ),
        (
            "SamplingDto",
            "stop",
            json!({"maxItems": 4, "items": {
            "type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[^\u0000]*$"}}),
        ),
        ("SamplingDto", "response_format", response_format()),
        ("ForkBody", "mode", one_of(&["path", "path_and_branches"])),
        ("ForkBody", "title", one_line(TITLE)),
        ("AddSummaryBody", "text", no_nul()),
        ("AddSummaryBody", "model", identifier(MODEL)),
        ("Credentials", "email", email()),
        ("Credentials", "password", password()),
        (
            "NewSessionBody",
            "session_id",
            json!({"pattern": "^[A-Za-z0-9_.-]{1,128}$"}),
        ),
        ("NewSessionBody", "external_user_id", identifier(ID)),
        ("NewSessionBody", "ttl_seconds", range(60, 2_592_000)),
        ("NewSessionBody", "metadata", metadata()),
        ("CreateWebhookBody", "url", webhook_url()),
        ("CreateWebhookBody", "events", feed_events()),
        (
            "CreateWebhookBody",
            "secret",
            json!({"pattern": "^whsec_([A-Za-z0-9+/]{4}){8,16}$"}),
        ),
        ("CreateWebhookBody", "description", one_line(500)),
        ("UpdateWebhookBody", "url", webhook_url()),
        ("UpdateWebhookBody", "events", feed_events()),
        ("UpdateWebhookBody", "description", one_line(500)),
    ]
}

/// A webhook's URL: any text up to 2,048 characters (what is not an http(s) URL to a public
/// address is 422 `webhook_url_refused`).
fn webhook_url() -> Value {
    json!({"maxLength": 2048})
}

/// The names of the change feed's events.
fn feed_event_names() -> Vec<&'static str> {
    chat_threads_application::feed::logged_kinds()
        .map(|k| k.as_str())
        .collect()
}

/// A list of the change feed's event names.
fn feed_events() -> Value {
    json!({"items": {"enum": feed_event_names()}})
}

/// Rules of query parameters of one path, over the general ones.
fn path_parameter_rules() -> Vec<(&'static str, &'static str, Value)> {
    let names = feed_event_names()
        .iter()
        .map(|n| n.replace('.', r"\."))
        .collect::<Vec<_>>()
        .join("|");
    vec![
        ("/v1/events", "limit", range(1, 1000)),
        (
            "/v1/events",
            "after",
            json!({"pattern": "^(now|[0-9]{1,18})$"}),
        ),
        (
            "/v1/events",
            "types",
            json!({"pattern": format!("^({names})(,({names}))*$")}),
        ),
        (
            "/v1/webhooks/{webhook_id}/deliveries",
            "status",
            one_of(&["pending", "delivered", "failed"]),
        ),
    ]
}

/// `(parameter, rule)` for query parameters, wherever they appear.
fn parameter_rules() -> Vec<(&'static str, Value)> {
    let query_text = || one_line(chat_threads_domain::QUERY_TEXT_MAX as u32);
    vec![
        ("limit", range(1, 100)),
        ("days", range(1, 366)),
        ("role", one_of(&["user", "assistant", "system", "tool"])),
        ("status", one_of(&["active", "archived"])),
        ("deleted", one_of(&["exclude", "include", "only"])),
        ("view", one_of(&["path", "tree"])),
        ("scope", one_of(&["subtree", "message"])),
        ("product", products()),
        ("org_id", identifier(ID)),
        ("document_id", identifier(ID)),
        ("external_id", identifier(ID)),
        ("external_user_id", identifier(ID)),
        ("q", query_text()),
        ("search", query_text()),
        ("tag", identifier(TAG)),
        ("creator_email", query_text()),
        ("include", one_of(&["messages"])),
        ("shared", one_of(&["with_me"])),
        (
            "action",
            one_of(
                &chat_threads_application::audit::AuditAction::ALL
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>(),
            ),
        ),
        ("actor", identifier(ID)),
    ]
}

/// Merges `rule` into a property or parameter schema. A nullable enum keeps `null`.
fn merge(target: &mut Value, rule: &Value) {
    let (Value::Object(target), Value::Object(rule)) = (target, rule) else {
        return;
    };
    let nullable = match target.get("type") {
        Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
        _ => false,
    };
    for (k, v) in rule {
        let mut v = v.clone();
        if k == "enum"
            && nullable
            && let Value::Array(values) = &mut v
        {
            values.push(Value::Null);
        }
        target.insert(k.clone(), v);
    }
}

/// One Server-Sent Event, as every stream of this API sends it: `event` names it, `data` is a
/// JSON object whose `type` names it too and whose other fields depend on it, `id` is the
/// reply's seq (reply events only). Built from the event catalog (`EventKind`), so a new kind
/// or field shows up here by itself.
fn server_sent_event() -> Value {
    use chat_threads_application::events::EventKind;
    let field = |name: &str| match name {
        "message" => json!({"type": "object", "required": ["id", "role", "content", "status"]}),
        "thread" => json!({"type": "object", "required": ["id", "title", "status"]}),
        "summary" => json!({"type": "object", "required": ["id", "content"]}),
        "usage" => json!({"type": ["object", "null"],
                          "required": ["prompt_tokens", "completion_tokens"]}),
        "error" => json!({"type": "object", "required": ["code", "message"],
                          "properties": {"code": {"type": "string"},
                                         "message": {"type": "string"}}}),
        "deleted" => json!({"type": "integer", "minimum": 0}),
        "scope" => json!({"enum": ["message", "subtree"]}),
        "role" => json!({"enum": ["user", "assistant"]}),
        "message_id" => json!({"type": "string", "format": "uuid"}),
        "index" => json!({"type": "integer", "minimum": 0}),
        "is_error" => json!({"type": "boolean"}),
        "tool_calls" => json!({"type": "array", "items": {"type": "object"}}),
        "active_leaf_id" => json!({"type": ["string", "null"], "format": "uuid"}),
        _ => json!({"type": "string"}),
    };
    let variant = |kind: EventKind| {
        let mut properties = json!({
            "type": {"const": kind.as_str()},
            "thread_id": {"type": "string", "format": "uuid"},
        });
        let mut required = vec!["type", "thread_id"];
        if kind.of_reply() {
            properties["seq"] = json!({"type": "integer", "minimum": 1});
            properties["message_id"] = json!({"type": "string", "format": "uuid"});
            required.extend(["seq", "message_id"]);
        }
        for name in kind.fields() {
            properties[*name] = field(name);
            required.push(name);
        }
        json!({
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": {"const": kind.as_str()},
                "id": {"type": "string", "pattern": "^[0-9]+$"},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"type": "object", "required": required,
                                      "properties": properties},
                },
            },
        })
    };
    json!({
        "description": "One event. `data` holds JSON whose `type` is the event's name: see \
                        docs/streaming.md for every event.",
        "oneOf": EventKind::ALL.iter().map(|k| variant(*k)).collect::<Vec<_>>(),
    })
}

/// Every `text/event-stream` answer describes its events instead of calling the stream a string:
/// its `schema` is the schema of one event (OpenAPI 3.2 calls this `itemSchema`; 3.1 has no
/// word for it, and tools such as schemathesis read `schema` so).
fn describe_event_streams(doc: &mut Value) {
    let event = server_sent_event();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in item.values_mut() {
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            for response in responses.values_mut() {
                let Some(sse) = response
                    .get_mut("content")
                    .and_then(|c| c.get_mut("text/event-stream"))
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                sse.insert("schema".into(), event.clone());
            }
        }
    }
}

/// Writes the rules into the document (as JSON: some keywords, such as `propertyNames`, have
/// no place in utoipa's types).
pub(crate) fn apply(doc: &mut Value) {
    apply_rules(doc);
    open_objects(doc);
}

/// Says of every free-form object (`{"type": "object"}` and nothing that names its members)
/// that its members may be anything (`additionalProperties: true`). JSON Schema means the same
/// without it, but generators of typed clients do not: openapi-typescript types a bare object
/// as `Record<string, never>`, so a client could neither set nor read a thread's metadata.
fn open_objects(node: &mut Value) {
    match node {
        Value::Object(map) => {
            let is_object = match map.get("type") {
                Some(Value::String(t)) => t == "object",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
                _ => false,
            };
            let named = [
                "properties",
                "additionalProperties",
                "patternProperties",
                "propertyNames",
                "$ref",
                "oneOf",
                "anyOf",
                "allOf",
                "not",
            ]
            .iter()
            .any(|k| map.contains_key(*k));
            if is_object && !named {
                map.insert("additionalProperties".into(), Value::Bool(true));
            }
            map.values_mut().for_each(open_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(open_objects),
        _ => {}
    }
}

fn apply_rules(doc: &mut Value) {
    describe_event_streams(doc);
    // Bodies that may be left out altogether (the defaults apply).
    for (path, method) in [
        ("/v1/sessions", "post"),
        (
            "/v1/threads/{thread_id}/messages/{message_id}/regenerate",
            "post",
        ),
    ] {
        if let Some(body) = doc
            .get_mut("paths")
            .and_then(|p| p.get_mut(path))
            .and_then(|i| i.get_mut(method))
            .and_then(|o| o.get_mut("requestBody"))
            .and_then(Value::as_object_mut)
        {
            body.insert("required".into(), Value::Bool(false));
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    schemas["MetadataValue"] = metadata_value();
    part_rules(&mut schemas["PartDto"]);
    // A session's lifetime is given one way: ttl_seconds or expires_at.
    schemas["NewSessionBody"]["not"] = json!({"required": ["ttl_seconds", "expires_at"]});
    for (schema, field, rule) in field_rules() {
        let property = schemas
            .get_mut(schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(field));
        debug_assert!(property.is_some(), "no field {schema}.{field}");
        if let Some(property) = property {
            merge(property, &rule);
        }
    }
    let rules = parameter_rules();
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for op in ops.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            for p in params.iter_mut().filter(|p| p["in"] == "header") {
                // An optional header is left out, never sent as `null`.
                if let Some(schema) = p.get_mut("schema").and_then(Value::as_object_mut)
                    && let Some(Value::Array(types)) = schema.get_mut("type")
                {
                    types.retain(|t| t != "null");
                    if types.len() == 1 {
                        let only = types.remove(0);
                        schema.insert("type".into(), only);
                    }
                }
            }
            // A tag in a path follows the rule of tags.
            for p in params
                .iter_mut()
                .filter(|p| p["in"] == "path" && p["name"] == "tag")
            {
                merge(&mut p["schema"], &identifier(TAG));
            }
            for p in params.iter_mut().filter(|p| p["in"] == "query") {
                let name = p["name"].as_str().unwrap_or_default().to_owned();
                if let Some((_, rule)) = rules.iter().find(|(n, _)| *n == name) {
                    merge(&mut p["schema"], rule);
                }
                if let Some((.., rule)) = path_parameter_rules()
                    .iter()
                    .find(|(at, n, _)| at == path && *n == name)
                {
                    merge(&mut p["schema"], rule);
                }
                // The search text is required and must not be blank.
                if name == "q" && path == "/v1/search" {
                    merge(
                        &mut p["schema"],
                        &identifier(chat_threads_domain::QUERY_TEXT_MAX as u32),
                    );
                }
            }
        }
    }
}
