//! Configuration (in progress).
/// Settings.
#[derive(Debug)]
pub struct Settings;
