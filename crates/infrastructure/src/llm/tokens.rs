//! Token counting with OpenAI's cl100k_base encoding (a good estimate for most chat models).

use std::sync::{Arc, OnceLock};

use chat_threads_application::replies::llm::TokenCounter;

/// Counts tokens with tiktoken's cl100k_base; falls back to characters / 4 if the encoding
/// cannot be loaded.
#[derive(Debug, Clone, Default)]
pub struct TiktokenCounter;

fn encoding() -> Option<&'static Arc<tiktoken_rs::CoreBPE>> {
    static BPE: OnceLock<Option<Arc<tiktoken_rs::CoreBPE>>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().ok().map(Arc::new))
        .as_ref()
}

impl TokenCounter for TiktokenCounter {
    fn count(&self, text: &str) -> usize {
        match encoding() {
            Some(bpe) => bpe.encode_with_special_tokens(text).len(),
            None => text.chars().count().div_ceil(4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_the_models() {
        let c = TiktokenCounter;
        assert_eq!(c.count(""), 0);
        assert_eq!(c.count("hello world"), 2);
        assert!(c.count(&"lorem ipsum ".repeat(100)) > 150);
    }
}
