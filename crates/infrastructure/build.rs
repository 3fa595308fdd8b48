//! Writes cl100k_base's vocabulary in the compact form the token counter reads
//! (`src/llm/tokens.rs`): every token's bytes in rank order (`cl100k.bytes`), where each ends
//! (`cl100k.ends`, little-endian u32), and the open-addressed table that finds a token's rank
//! from its bytes (`cl100k.slots`, little-endian u32 ranks, `u32::MAX` for an empty slot, at
//! most half full; `src/llm/slot_hash.rs` of the bytes, linear probing — `tokens.rs` probes it
//! the same way, with the same hash).
//! Built from tiktoken-rs's copy of the encoding, so the running service never builds
//! tiktoken's `CoreBPE` (~21 MiB that the allocator keeps once freed), nor a table of its own:
//! all three are read-only data in the binary, pages the kernel shares and can drop.

use std::path::PathBuf;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/llm/slot_hash.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("cargo sets OUT_DIR")?);
    let bpe = tiktoken_rs::cl100k_base()?;
    let mut bytes = Vec::with_capacity(1 << 20);
    let mut ends = Vec::with_capacity(4 * 100_256);
    // Each token's slot hash, in rank order, for the rank table below.
    let mut hashes = Vec::with_capacity(100_256);
    // The ordinary tokens have the ranks 0, 1, 2, ... (the special ones come after a gap).
    let mut rank = 0u32;
    while let Ok(token) = bpe.decode_bytes(&[rank]) {
        hashes.push(slot_hash(&token));
        bytes.extend_from_slice(&token);
        ends.extend_from_slice(&u32::try_from(bytes.len())?.to_le_bytes());
        rank += 1;
    }
    if rank < 100_000 {
        return Err(format!("cl100k_base has 100,256 ordinary tokens, read {rank}").into());
    }
    let mut slots = vec![u32::MAX; (2 * hashes.len()).next_power_of_two()];
    let mask = slots.len() - 1;
    for (r, hash) in hashes.into_iter().enumerate() {
        let mut i = hash & mask;
        while slots[i] != u32::MAX {
            i = (i + 1) & mask;
        }
        slots[i] = u32::try_from(r)?;
    }
    let slots: Vec<u8> = slots.iter().flat_map(|r| r.to_le_bytes()).collect();
    std::fs::write(out.join("cl100k.bytes"), bytes)?;
    std::fs::write(out.join("cl100k.ends"), ends)?;
    std::fs::write(out.join("cl100k.slots"), slots)?;
    Ok(())
}

include!("src/llm/slot_hash.rs");
