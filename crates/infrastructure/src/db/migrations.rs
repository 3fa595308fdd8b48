//! Embedded migrations, one set per backend, kept in step.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// Migrations for SQLite.
pub const MIGRATIONS_SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
/// Migrations for PostgreSQL.
pub const MIGRATIONS_POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Which way to move the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Apply every pending migration.
    Up,
    /// Revert every applied migration.
    DownAll,
}

/// Runs migrations on a synchronous harness (call from a blocking thread). Returns the names of
/// the migrations applied or reverted.
pub fn run<DB, H>(
    harness: &mut H,
    migrations: EmbeddedMigrations,
    direction: Direction,
) -> Result<Vec<String>, String>
where
    DB: diesel::backend::Backend,
    H: MigrationHarness<DB>,
{
    let done = match direction {
        Direction::Up => harness.run_pending_migrations(migrations),
        Direction::DownAll => harness.revert_all_migrations(migrations),
    }
    .map_err(|e| e.to_string())?;
    Ok(done.into_iter().map(|v| v.to_string()).collect())
}
