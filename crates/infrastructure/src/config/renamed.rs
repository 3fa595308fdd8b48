//! Old section names, still read: a provider wrapper that moves a renamed section's keys to the
//! new name before the settings are read, so `[generation]` in a file or
//! `CHAT_THREADS__GENERATION__*` in the environment sets `[replies]`, and the defaults (under the
//! new name) and an old-named override never collide.

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// (old name, new name) of renamed top-level sections.
const RENAMED: &[(&str, &str)] = &[("generation", "replies")];

/// A provider whose renamed sections are read under their new names.
pub(super) struct Renamed<P>(pub P);

impl<P: Provider> Provider for Renamed<P> {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut data = self.0.data()?;
        for dict in data.values_mut() {
            for (old, new) in RENAMED {
                let Some(Value::Dict(_, moved)) = dict.remove(*old) else {
                    continue;
                };
                match dict.get_mut(*new) {
                    // Both names in one source: the new name wins key by key.
                    Some(Value::Dict(_, current)) => {
                        for (k, v) in moved {
                            current.entry(k).or_insert(v);
                        }
                    }
                    _ => {
                        dict.insert((*new).to_owned(), Value::from(moved));
                    }
                }
            }
        }
        Ok(data)
    }
}
