//! Token counting with OpenAI's cl100k_base encoding (a good estimate for most chat models).
//!
//! The vocabulary is tiktoken-rs's copy of cl100k_base, kept in a compact form of its own:
//! tiktoken's `CoreBPE` holds the 100,256 tokens three times over (an encoder and a decoder
//! hash map of boxed byte strings, and a sorted list of them) — ~21 MiB once built, which the
//! allocator kept even after it was dropped, in every process that ran one reply. Counting
//! needs only "what is the rank of these bytes": the build (`build.rs`) writes every token's
//! bytes in rank order, where each ends, and an open-addressed table of ranks over them; the
//! binary carries all three (~2.5 MiB, read-only: nothing is built or allocated at run time
//! but the pre-tokenizer, and a process touches only the pages its lookups reach). The
//! pre-tokenizer is cl100k's own pattern; the merge is byte-pair encoding as tiktoken does it
//! (lowest rank first, leftmost on a tie), so the counts are tiktoken's (a test compares them
//! over thousands of texts).

use std::sync::OnceLock;

use chat_threads_application::replies::llm::TokenCounter;

/// Counts tokens with cl100k_base; falls back to characters / 4 if the encoding cannot be
/// loaded.
#[derive(Debug, Clone, Default)]
pub struct TiktokenCounter;

impl TokenCounter for TiktokenCounter {
    fn count(&self, text: &str) -> usize {
        match vocab() {
            Some(v) => v.count(text),
            None => estimate(text),
        }
    }
}

fn estimate(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

fn vocab() -> Option<&'static Vocab> {
    static VOCAB: OnceLock<Option<Vocab>> = OnceLock::new();
    VOCAB.get_or_init(Vocab::cl100k).as_ref()
}

/// cl100k_base's pre-tokenizer: how a text is cut into pieces before byte-pair merging.
const PIECES: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";

/// cl100k_base's special tokens: each is one token wherever it appears in a text.
const SPECIALS: [&str; 5] = [
    "<|endoftext|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|endofprompt|>",
];

/// No token has these bytes; also an empty slot of the rank table.
const NO_RANK: u32 = u32::MAX;

/// Every ordinary token's bytes, in rank order.
static TOKEN_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cl100k.bytes"));
/// Where token `r` ends in [`TOKEN_BYTES`] (little-endian u32 `r`; it starts where `r - 1`
/// ends).
static TOKEN_ENDS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cl100k.ends"));
/// Open addressing over the tokens' bytes (FNV-1a, linear probing, at most half full): each
/// slot a little-endian u32 rank, or `NO_RANK`.
static SLOTS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cl100k.slots"));

struct Vocab {
    pieces: fancy_regex::Regex,
}

/// The little-endian u32 at index `i` of `table`.
fn u32_at(table: &[u8], i: usize) -> u32 {
    let b = &table[4 * i..4 * i + 4];
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn end_of(rank: usize) -> usize {
    u32_at(TOKEN_ENDS, rank) as usize
}

fn token(rank: usize) -> &'static [u8] {
    let start = if rank == 0 { 0 } else { end_of(rank - 1) };
    &TOKEN_BYTES[start..end_of(rank)]
}

include!("slot_hash.rs");

impl Vocab {
    fn cl100k() -> Option<Self> {
        let pieces = fancy_regex::Regex::new(PIECES).ok()?;
        let tokens = TOKEN_ENDS.len() / 4;
        let slots = SLOTS.len() / 4;
        // The build wrote the three together; a table that cannot hold every token with room
        // to spare (a probe must reach an empty slot) is not used.
        if tokens == 0
            || end_of(tokens - 1) != TOKEN_BYTES.len()
            || !slots.is_power_of_two()
            || slots < 2 * tokens
        {
            return None;
        }
        Some(Self { pieces })
    }

    fn rank(&self, bytes: &[u8]) -> u32 {
        let mask = SLOTS.len() / 4 - 1;
        let mut i = slot_hash(bytes) & mask;
        loop {
            let rank = u32_at(SLOTS, i);
            if rank == NO_RANK || token(rank as usize) == bytes {
                return rank;
            }
            i = (i + 1) & mask;
        }
    }

    /// Tokens in `text`, special tokens counted as one each (tiktoken's
    /// `encode_with_special_tokens(text).len()`).
    fn count(&self, text: &str) -> usize {
        let mut total = 0;
        let mut rest = text;
        loop {
            let special = SPECIALS
                .iter()
                .filter_map(|s| rest.find(s).map(|at| (at, s.len())))
                .min();
            let Some((at, len)) = special else {
                return total + self.ordinary(rest);
            };
            total += self.ordinary(&rest[..at]) + 1;
            rest = &rest[at + len..];
        }
    }

    /// Tokens in a text without special tokens.
    fn ordinary(&self, text: &str) -> usize {
        let mut total = 0;
        for piece in self.pieces.find_iter(text) {
            match piece {
                Ok(piece) => total += self.merged(piece.as_str().as_bytes()),
                // The pattern cannot fail on text, but should its matcher give up, estimate.
                Err(_) => return estimate(text),
            }
        }
        total
    }

    /// Tokens a piece merges into: the adjacent pair with the lowest rank merges first (the
    /// leftmost of equal ones), until no adjacent pair is a token.
    fn merged(&self, piece: &[u8]) -> usize {
        if piece.len() <= 1 || self.rank(piece) != NO_RANK {
            return usize::from(!piece.is_empty());
        }
        // Where each part starts (and the end), with the rank of it merged with the next part.
        let mut parts: Vec<(usize, u32)> = (0..=piece.len()).map(|at| (at, NO_RANK)).collect();
        let pair = |parts: &[(usize, u32)], i: usize| -> u32 {
            if i + 2 < parts.len() {
                self.rank(&piece[parts[i].0..parts[i + 2].0])
            } else {
                NO_RANK
            }
        };
        for i in 0..parts.len() {
            parts[i].1 = pair(&parts, i);
        }
        loop {
            let (lowest, i) = parts.iter().enumerate().fold(
                (NO_RANK, 0),
                |(lo, at), (i, &(_, r))| {
                    if r < lo { (r, i) } else { (lo, at) }
                },
            );
            if lowest == NO_RANK {
                return parts.len() - 1;
            }
            parts.remove(i + 1);
            parts[i].1 = pair(&parts, i);
            if i > 0 {
                parts[i - 1].1 = pair(&parts, i - 1);
            }
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

    /// The compact vocabulary counts exactly what tiktoken's own encoder does, over texts
    /// mixed from prose, code, numbers, whitespace runs, many scripts, emoji and special tokens.
    #[test]
    fn counts_what_tiktoken_counts() {
        let ours = vocab().expect("cl100k_base loads");
        let theirs = tiktoken_rs::cl100k_base().unwrap();
        let fragments = [
            "hello",
            " world",
            "Hello, World!",
            " don't",
            " I'LL",
            " we've",
            " they're",
            "'s",
            "’s",
            "Überraschung",
            " naïve café",
            "日本語のテキストです。",
            "中文字符",
            "😀👍🏽",
            "🇩🇪",
            "кириллица ",
            "مرحبا بالعالم",
            "   ",
            "  ",
            " ",
            "\n",
            "\n\n",
            "\r\n",
            "\t",
            " \n ",
            "12345678",
            " 3.14159",
            "1,000,000",
            "0x1F",
            "fn main() { println!(\"x\"); }",
            "    return a + b;\n",
            "<div class=\"x\">",
            "$$\\frac{a}{b}$$",
            "---",
            "...",
            "!!!",
            "<|endoftext|>",
            "<|fim_prefix|>",
            "<|fim_middle|>",
            "<|fim_suffix|>",
            "<|endofprompt|>",
            "<|",
            "|>",
            "a",
            "Z",
            "é",
            "\u{301}",
            "ÿ",
            "\u{a0}",
            "\u{2028}",
            "https://example.com/path?q=1&r=2",
            "user@example.com",
            "C++",
            "#include <stdio.h>",
            "SELECT * FROM t WHERE x = 'y';",
            "αβγδ",
            "ﬁ",
            "Ⅻ",
            "²³",
            "٣٤٥",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut texts: Vec<String> = fragments.iter().map(|f| (*f).to_owned()).collect();
        for _ in 0..3000 {
            let parts = 1 + next() % 24;
            let text: String = (0..parts)
                .map(|_| fragments[(next() % fragments.len() as u64) as usize])
                .collect();
            texts.push(text);
        }
        texts.push("lorem ipsum dolor sit amet, ".repeat(400));
        texts.push(" ".repeat(1000) + "x" + &"\n".repeat(50));
        texts.push("a".repeat(3000));
        for text in &texts {
            assert_eq!(
                ours.count(text),
                theirs.encode_with_special_tokens(text).len(),
                "{text:?}"
            );
        }
    }
}
