//! TLS for outgoing HTTPS (model servers, object stores): rustls with the ring provider,
//! installed once per process before any client is built.

/// Installs the process-wide TLS provider; later calls do nothing.
pub fn install() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
