//! Builds the model catalog from settings.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chat_threads_application::replies::llm::SharedModel;
use chat_threads_application::replies::models::{Allowlists, Catalog};

use crate::config::{ConfigError, ModelsSettings};
use crate::llm::{EchoModel, HttpOptions, OpenAiCompatible};

/// The catalog the settings describe. A provider's `api_key_env` must name a set variable.
pub fn build_catalog(settings: &ModelsSettings) -> Result<Catalog, ConfigError> {
    let mut models: BTreeMap<String, (String, SharedModel)> = BTreeMap::new();
    if settings.echo.enabled {
        let echo: SharedModel = Arc::new(EchoModel::new(Duration::from_millis(
            settings.echo.delay_ms,
        )));
        models.insert("echo".into(), ("builtin".into(), echo));
    }
    let http = HttpOptions {
        connect_timeout: Duration::from_secs(settings.http.connect_timeout_secs),
        read_timeout: Duration::from_secs(settings.http.read_timeout_secs),
        retries: settings.http.retries,
        backoff: Duration::from_millis(settings.http.retry_backoff_ms),
    };
    for (name, p) in &settings.providers {
        let key = match &p.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                ConfigError::new(format!(
                    "models.providers.{name}.api_key_env names {var}, which is not set"
                ))
            })?),
            None => None,
        };
        let client: SharedModel = Arc::new(
            OpenAiCompatible::new(&p.base_url, key, http)
                .map_err(|e| ConfigError::new(format!("models.providers.{name}: {e}")))?,
        );
        for model in &p.models {
            models.insert(model.clone(), (name.clone(), client.clone()));
        }
    }
    let allow = Allowlists {
        default: settings.allow.default.clone(),
        orgs: settings.allow.orgs.clone(),
        scopes: settings.allow.scopes.clone(),
    };
    let mut prices = BTreeMap::new();
    for (model, p) in &settings.prices {
        if !models.contains_key(model) {
            return Err(ConfigError::new(format!(
                "models.prices.{model}: no such model (configured: {:?})",
                models.keys().collect::<Vec<_>>()
            )));
        }
        prices.insert(
            model.clone(),
            chat_threads_application::billing::Price {
                input_per_million: p.input_per_million,
                output_per_million: p.output_per_million,
            },
        );
    }
    if let Some(unknown) = settings.vision.iter().find(|m| !models.contains_key(*m)) {
        return Err(ConfigError::new(format!(
            "models.vision: {unknown} is no such model (configured: {:?})",
            models.keys().collect::<Vec<_>>()
        )));
    }
    Ok(Catalog::new(models, settings.default.clone(), allow)
        .with_prices(prices)
        .with_vision(settings.vision.iter().cloned()))
}
