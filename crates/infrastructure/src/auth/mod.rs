//! Authentication adapters: JWT verification and signing, argon2id password hashing.

mod jwt;
mod password;

pub use jwt::{ClaimNames, JwtAuthority, JwtConfig, KeySource, ProviderAlgorithm, ProviderConfig};
pub use password::Argon2Hasher;
