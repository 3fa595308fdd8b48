//! Sending webhooks over HTTP, guarded against server-side request forgery: a target must be
//! http(s), and unless `webhooks.allow_private` is set it may not resolve to a loopback,
//! private, link-local, shared (CGNAT), multicast or otherwise internal address. Names are
//! resolved by the client's own resolver, which drops such addresses, so the address checked is
//! the address connected to (no DNS rebinding between check and use); redirects are not
//! followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chat_threads_application::webhooks::WebhookSender;

/// Whether an address is internal: not for webhooks unless private targets are allowed.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return internal_v4(Ipv4Addr::new(a, b, c, d));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || v6 == Ipv6Addr::from(0u128)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240 // reserved
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
}

/// Resolves names, dropping internal addresses (all of them allowed when private targets are).
#[derive(Debug, Clone, Copy)]
struct Guarded {
    allow_private: bool,
}

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow || !internal(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The webhook client.
#[derive(Debug, Clone)]
pub struct HttpWebhookSender {
    client: reqwest::Client,
    allow_private: bool,
}

impl HttpWebhookSender {
    /// A client with `timeout` per request; `allow_private` lets webhooks reach internal
    /// addresses (tests, private deployments).
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Self, reqwest::Error> {
        crate::tls::install();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(Guarded { allow_private }))
            .user_agent(concat!("chat-threads-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            allow_private,
        })
    }

    /// The URL's host checked: a literal address directly (the resolver never sees it), a name
    /// by resolving it.
    async fn vet(&self, raw: &str) -> Result<(), String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be http or https".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not hold credentials".into());
        }
        let host = match url.host() {
            Some(h) => h,
            None => return Err("has no host".into()),
        };
        if self.allow_private {
            return Ok(());
        }
        let literal = match host {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(_) => None,
        };
        match literal {
            Some(ip) if internal(ip) => Err(format!(
                "{ip} is an internal address (webhooks.allow_private is off)"
            )),
            Some(_) => Ok(()),
            None => {
                let name = host.to_string();
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                    .await
                    .map_err(|e| format!("{name} does not resolve: {e}"))?
                    .collect();
                if addrs.is_empty() || addrs.iter().any(|a| internal(a.ip())) {
                    return Err(format!(
                        "{name} resolves to an internal address (webhooks.allow_private is off)"
                    ));
                }
                Ok(())
            }
        }
    }
}

impl WebhookSender for HttpWebhookSender {
    async fn check_url(&self, url: &str) -> Result<(), String> {
        self.vet(url).await
    }

    async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<u16, String> {
        // Checked again at every attempt: a name may point elsewhere since.
        self.vet(url).await?;
        let mut req = self.client.post(url).body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        match req.send().await {
            Ok(resp) => Ok(resp.status().as_u16()),
            Err(e) if e.is_timeout() => Err("the receiver did not answer in time".into()),
            Err(e) if e.is_connect() => Err("could not connect to the receiver".into()),
            Err(e) => Err(format!("the request failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "1.1.1.1"] {
            assert!(!internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn urls_are_vetted() {
        crate::tls::install();
        let strict = HttpWebhookSender::new(Duration::from_secs(1), false).unwrap();
        for bad in [
            "ftp://example.com/",
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost/hook",
            "http://user:pw@93.184.215.14/",
            "not a url",
        ] {
            assert!(strict.check_url(bad).await.is_err(), "{bad}");
        }
        assert!(strict.check_url("https://93.184.215.14/hook").await.is_ok());
        let open = HttpWebhookSender::new(Duration::from_secs(1), true).unwrap();
        assert!(open.check_url("http://127.0.0.1:8080/hook").await.is_ok());
    }
}
