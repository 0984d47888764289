//! [`ClientOptions`]: how a [`Client`](super::Client) talks to its server
//! (how long it waits for a reply, how often it resends, how much a
//! subscription may have in flight, and CURVE keys), and the checks of
//! those settings, made before any socket exists.

use std::time::Duration;

use crate::{Error, Result};

/// The CURVE keys of a client, as Z85 text (40 characters each).
#[derive(Clone, PartialEq, Eq)]
pub struct CurveKeys {
    /// The server's public key.
    pub server_public_key: String,
    /// This client's public key (on the server's allow-list).
    pub public_key: String,
    /// This client's secret key.
    pub secret_key: String,
}

impl std::fmt::Debug for CurveKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret key stays out of logs and panic messages.
        f.debug_struct("CurveKeys")
            .field("server_public_key", &self.server_public_key)
            .field("public_key", &self.public_key)
            .field("secret_key", &"<hidden>")
            .finish()
    }
}

/// The keys decoded to their 32 bytes each.
pub(crate) struct CurveBinary {
    pub server_public_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub secret_key: Vec<u8>,
}

impl CurveKeys {
    /// Checks that CURVE is available and that every key is 40 characters
    /// of Z85 encoding 32 bytes.
    pub(crate) fn decode(&self) -> Result<CurveBinary> {
        if zmq::has("curve") != Some(true) {
            return Err(Error::Config(
                "CURVE keys were given, but this build of ZeroMQ has no CURVE support".into(),
            ));
        }
        // The curve module's decoder: zmq::z85_decode leaks its input's
        // copy, and checks neither the alphabet nor the range.
        let key = |what: &str, text: &str| -> Result<Vec<u8>> {
            Ok(crate::curve::parse_key(&format!("the {what}"), text)?.to_vec())
        };
        Ok(CurveBinary {
            server_public_key: key("server public key", &self.server_public_key)?,
            public_key: key("client public key", &self.public_key)?,
            secret_key: key("client secret key", &self.secret_key)?,
        })
    }
}

/// How a [`Client`](super::Client) behaves. `ClientOptions::default()` suits
/// a server on the same machine or network.
///
/// ```
/// use std::time::Duration;
/// use rewind_core::client::ClientOptions;
///
/// let options = ClientOptions::default()
///     .with_request_timeout(Duration::from_secs(2))
///     .with_retries(5);
/// assert_eq!(options.retries, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long a request waits for (the next part of) its reply before the
    /// client reconnects and sends it again. Default: 5 seconds.
    pub request_timeout: Duration,
    /// How many times a request is sent again (after a timeout or a lost
    /// connection) before it fails with [`Error::Network`]. Appends are
    /// safe to resend: every event carries its id. Default: 3.
    pub retries: u32,
    /// How many events a subscription may have on the way to it (sent by
    /// the server and not yet handed out). Default: 4096.
    pub credit_window: u64,
    /// How often a client with live subscriptions says it is alive, until
    /// the server tells its own interval (in `SUBSCRIBED`). Default: 1
    /// second.
    pub heartbeat: Duration,
    /// The CURVE keys, when the server requires CURVE.
    pub curve: Option<CurveKeys>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(5),
            retries: 3,
            credit_window: 4096,
            heartbeat: Duration::from_secs(1),
            curve: None,
        }
    }
}

impl ClientOptions {
    /// The options with this request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The options with this many resends of a request.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The options with this credit window for subscriptions.
    pub fn with_credit_window(mut self, events: u64) -> Self {
        self.credit_window = events;
        self
    }

    /// The options with CURVE: the server's public key and this client's
    /// key pair, each as 40 characters of Z85 text.
    pub fn with_curve(
        mut self,
        server_public_key: impl Into<String>,
        public_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        self.curve = Some(CurveKeys {
            server_public_key: server_public_key.into(),
            public_key: public_key.into(),
            secret_key: secret_key.into(),
        });
        self
    }

    /// Checks the options; the CURVE keys come back decoded.
    pub(crate) fn check(&self) -> Result<Option<CurveBinary>> {
        if self.request_timeout.is_zero() {
            return Err(Error::Config("the request timeout must not be zero".into()));
        }
        if self.heartbeat.is_zero() {
            return Err(Error::Config("the heartbeat must not be zero".into()));
        }
        if self.credit_window == 0 {
            return Err(Error::Config(
                "the credit window must be at least one event".into(),
            ));
        }
        self.curve.as_ref().map(CurveKeys::decode).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_and_zeros_do_not() {
        assert!(ClientOptions::default().check().unwrap().is_none());
        let zero = |o: ClientOptions| matches!(o.check(), Err(Error::Config(_)));
        assert!(zero(
            ClientOptions::default().with_request_timeout(Duration::ZERO)
        ));
        assert!(zero(ClientOptions::default().with_credit_window(0)));
        assert!(zero(ClientOptions {
            heartbeat: Duration::ZERO,
            ..ClientOptions::default()
        }));
    }

    #[test]
    fn curve_keys_are_refused_clearly_without_curve_and_checked_with_it() {
        let pair = zmq::CurveKeyPair::new();
        if zmq::has("curve") != Some(true) {
            assert!(pair.is_err());
            let keys = "0".repeat(40);
            let o = ClientOptions::default().with_curve(&*keys, &*keys, &*keys);
            match o.check() {
                Err(Error::Config(m)) => assert!(m.contains("no CURVE support"), "{m}"),
                other => panic!("expected a configuration error, got {:?}", other.err()),
            }
            return;
        }
        let pair = pair.unwrap();
        let public = zmq::z85_encode(&pair.public_key).unwrap();
        let secret = zmq::z85_encode(&pair.secret_key).unwrap();
        let ok = ClientOptions::default().with_curve(&*public, &*public, &*secret);
        let keys = ok.check().unwrap().expect("keys");
        assert_eq!(keys.secret_key, pair.secret_key);
        let short = ClientOptions::default().with_curve("abc", &*public, &*secret);
        assert!(matches!(short.check(), Err(Error::Config(m)) if m.contains("server public key")));
        assert!(!format!("{ok:?}").contains(&secret));
    }
}
