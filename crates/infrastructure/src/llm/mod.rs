//! Model adapters: any OpenAI-compatible server, the offline echo model, and token counting.

mod catalog;
mod echo;
mod openai;
mod tokens;

pub use catalog::build_catalog;
pub use echo::EchoModel;
pub use openai::{HttpOptions, OpenAiCompatible};
pub use tokens::TiktokenCounter;
