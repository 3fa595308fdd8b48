//! Which models exist, which provider serves each, and who may use which.

use std::collections::BTreeMap;

use chat_threads_domain::Principal;
use serde::Serialize;

use crate::error::AppError;
use crate::replies::llm::SharedModel;

/// A model as listed to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// The name to pass as `model`.
    pub id: String,
    /// The provider that serves it.
    pub provider: String,
    /// Whether it is used when neither the request nor the thread names one.
    pub default: bool,
    /// Its prices, if it has any.
    pub pricing: Option<crate::billing::Price>,
    /// Whether it accepts images.
    pub vision: bool,
}

/// Who may use which models. A principal whose org has a list may use that list; otherwise the
/// default list. Scopes add their lists on top. `*` means every model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlists {
    /// For principals without an org list.
    pub default: Vec<String>,
    /// Per organization.
    pub orgs: BTreeMap<String, Vec<String>>,
    /// Per scope, added to the org's or the default list.
    pub scopes: BTreeMap<String, Vec<String>>,
}

impl Allowlists {
    /// Whether `who` may use `name`: its org's list (else the default), plus its scopes' lists.
    pub fn permits(&self, who: &Principal, name: &str) -> bool {
        let base = who
            .org
            .as_ref()
            .and_then(|o| self.orgs.get(o.as_str()))
            .unwrap_or(&self.default);
        let from_scopes = who
            .scopes
            .iter()
            .filter_map(|s| self.scopes.get(s))
            .flatten();
        base.iter()
            .chain(from_scopes)
            .any(|m| m == "*" || m == name)
    }
}

/// The models and their providers, and the MCP servers whose tools replies may run.
#[derive(Clone)]
pub struct Catalog {
    models: BTreeMap<String, (String, SharedModel)>,
    default_model: String,
    allow: Allowlists,
    prices: BTreeMap<String, crate::billing::Price>,
    vision: std::collections::BTreeSet<String>,
    mcp: Option<Mcp>,
}

/// The MCP servers: their client, their names, and who may use which.
#[derive(Clone)]
struct Mcp {
    servers: crate::replies::mcp::SharedToolServers,
    names: std::collections::BTreeSet<String>,
    allow: Allowlists,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("models", &self.models.keys().collect::<Vec<_>>())
            .field("default_model", &self.default_model)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// A catalog; `models` maps a model name to its provider's name and client.
    pub fn new(
        models: BTreeMap<String, (String, SharedModel)>,
        default_model: String,
        allow: Allowlists,
    ) -> Self {
        Self {
            models,
            default_model,
            allow,
            prices: BTreeMap::new(),
            vision: std::collections::BTreeSet::new(),
            mcp: None,
        }
    }

    /// The same catalog with MCP servers (their client, their configured names, and who may
    /// use which).
    pub fn with_tool_servers(
        mut self,
        servers: crate::replies::mcp::SharedToolServers,
        names: impl IntoIterator<Item = String>,
        allow: Allowlists,
    ) -> Self {
        self.mcp = Some(Mcp {
            servers,
            names: names.into_iter().collect(),
            allow,
        });
        self
    }

    /// The MCP servers' client, when any are configured.
    pub fn tool_servers(&self) -> Option<&crate::replies::mcp::SharedToolServers> {
        self.mcp.as_ref().map(|m| &m.servers)
    }

    /// The MCP servers `who` may name.
    pub fn allowed_servers(&self, who: &Principal) -> Vec<String> {
        self.mcp
            .iter()
            .flat_map(|m| m.names.iter().filter(|n| m.allow.permits(who, n)))
            .cloned()
            .collect()
    }

    /// Checks the MCP servers a request names: each configured and allowed for `who`, named
    /// once; else 422 `out_of_range` naming `mcp` and the servers `who` may use.
    pub fn check_servers(
        &self,
        who: &Principal,
        uses: &[crate::replies::mcp::McpUse],
    ) -> Result<(), AppError> {
        let allowed = self.allowed_servers(who);
        let mut seen = std::collections::BTreeSet::new();
        for u in uses {
            if !allowed.contains(&u.server) || !seen.insert(&u.server) {
                return Err(chat_threads_domain::DomainError::OutOfRange {
                    field: "mcp",
                    reason: format!(
                        "{:?} is not an MCP server you may use (or is named twice); yours: {:?}",
                        u.server, allowed
                    ),
                }
                .into());
            }
        }
        Ok(())
    }

    /// The same catalog with the models that accept images (OpenAI image content parts).
    pub fn with_vision(mut self, models: impl IntoIterator<Item = String>) -> Self {
        self.vision = models.into_iter().collect();
        self
    }

    /// Whether a model accepts images.
    pub fn sees_images(&self, model: &str) -> bool {
        self.vision.contains(model)
    }

    /// The same catalog with prices per model (smallest currency unit per million tokens).
    pub fn with_prices(mut self, prices: BTreeMap<String, crate::billing::Price>) -> Self {
        self.prices = prices;
        self
    }

    /// A model's prices, if it has any.
    pub fn price(&self, model: &str) -> Option<crate::billing::Price> {
        self.prices.get(model).copied()
    }

    fn permitted(&self, who: &Principal, model: &str) -> bool {
        self.allow.permits(who, model)
    }

    /// The models this principal may use.
    pub fn allowed(&self, who: &Principal) -> Vec<ModelInfo> {
        self.models
            .iter()
            .filter(|(name, _)| self.permitted(who, name))
            .map(|(name, (provider, _))| ModelInfo {
                id: name.clone(),
                provider: provider.clone(),
                default: *name == self.default_model,
                pricing: self.price(name),
                vision: self.sees_images(name),
            })
            .collect()
    }

    /// Picks the model: the request's, else the thread's, else the default. Unknown or forbidden
    /// models are refused with the list of allowed ones.
    pub fn resolve(
        &self,
        who: &Principal,
        requested: Option<&str>,
        thread_model: Option<&str>,
    ) -> Result<(String, SharedModel), AppError> {
        let name = requested.or(thread_model).unwrap_or(&self.default_model);
        match self.models.get(name) {
            Some((_, model)) if self.permitted(who, name) => Ok((name.to_owned(), model.clone())),
            _ => Err(AppError::ModelNotAllowed {
                model: name.to_owned(),
                allowed: self.allowed(who).into_iter().map(|m| m.id).collect(),
            }),
        }
    }
}

impl crate::threads::ModelPolicy for Catalog {
    fn check(&self, who: &Principal, model: &str) -> Result<(), AppError> {
        self.resolve(who, Some(model), None).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replies::llm::{ChatRequest, ChatStream, LanguageModel};
    use std::sync::Arc;

    struct Nothing;
    impl LanguageModel for Nothing {
        fn stream(&self, _: ChatRequest) -> ChatStream {
            Box::pin(futures_util_stream_empty())
        }
    }
    fn futures_util_stream_empty() -> impl futures_core::Stream<
        Item = Result<crate::replies::llm::ChatEvent, crate::replies::llm::ModelError>,
    > + Send {
        struct Empty;
        impl futures_core::Stream for Empty {
            type Item = Result<crate::replies::llm::ChatEvent, crate::replies::llm::ModelError>;
            fn poll_next(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Self::Item>> {
                std::task::Poll::Ready(None)
            }
        }
        Empty
    }

    fn catalog() -> Catalog {
        let m: SharedModel = Arc::new(Nothing);
        let models = ["echo", "small", "big"]
            .iter()
            .map(|n| (n.to_string(), ("p".to_string(), m.clone())))
            .collect();
        let allow = Allowlists {
            default: vec!["echo".into(), "small".into()],
            orgs: BTreeMap::from([("acme".into(), vec!["*".into()])]),
            scopes: BTreeMap::from([("models:big".into(), vec!["big".into()])]),
        };
        Catalog::new(models, "echo".into(), allow)
    }

    #[test]
    fn allowlists_by_org_and_scope() {
        let c = catalog();
        let plain = Principal::user("a", None);
        let ids = |p: &Principal| c.allowed(p).into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(&plain), ["echo", "small"]);
        assert_eq!(
            ids(&Principal::user("b", Some("acme"))),
            ["big", "echo", "small"]
        );
        let mut scoped = plain.clone();
        scoped.scopes.push("models:big".into());
        assert_eq!(ids(&scoped), ["big", "echo", "small"]);
        assert_eq!(c.resolve(&plain, None, None).unwrap().0, "echo");
        assert_eq!(c.resolve(&plain, None, Some("small")).unwrap().0, "small");
        let Err(err) = c.resolve(&plain, Some("big"), None) else {
            panic!("big is not allowed")
        };
        assert!(
            matches!(err, AppError::ModelNotAllowed { ref allowed, .. } if allowed == &["echo", "small"])
        );
        assert!(c.resolve(&plain, Some("nope"), None).is_err());
    }
}
