//! Writes cl100k_base's vocabulary in the compact form the token counter reads
//! (`src/llm/tokens.rs`): every token's bytes in rank order (`cl100k.bytes`), and where each
//! ends (`cl100k.ends`, little-endian u32). Built from tiktoken-rs's copy of the encoding, so
//! the running service never builds tiktoken's `CoreBPE` (~21 MiB that the allocator keeps
//! once freed).

use std::path::PathBuf;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    println!("cargo::rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("cargo sets OUT_DIR")?);
    let bpe = tiktoken_rs::cl100k_base()?;
    let mut bytes = Vec::with_capacity(1 << 20);
    let mut ends = Vec::with_capacity(4 * 100_256);
    // The ordinary tokens have the ranks 0, 1, 2, ... (the special ones come after a gap).
    let mut rank = 0u32;
    while let Ok(token) = bpe.decode_bytes(&[rank]) {
        bytes.extend_from_slice(&token);
        ends.extend_from_slice(&u32::try_from(bytes.len())?.to_le_bytes());
        rank += 1;
    }
    if rank < 100_000 {
        return Err(format!("cl100k_base has 100,256 ordinary tokens, read {rank}").into());
    }
    std::fs::write(out.join("cl100k.bytes"), bytes)?;
    std::fs::write(out.join("cl100k.ends"), ends)?;
    Ok(())
}
