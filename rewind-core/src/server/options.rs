//! The server's options: endpoints and limits, their defaults, the checks
//! made before anything is bound, and the start-up log line.
//!
//! Plain data: nothing here opens a socket or touches the store.

use crate::protocol::ParseOptions;
use crate::{curve, Error, Result};

/// The server's endpoints and limits; the same options as the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// v1 query endpoints (clients connect REQ sockets).
    pub query_endpoints: Vec<String>,
    /// v1 streaming endpoints (PUB: id, previous id, data).
    pub streaming_endpoints: Vec<String>,
    /// v2 command endpoints (clients connect DEALER sockets).
    pub command_endpoints: Vec<String>,
    /// v2 publish endpoints (PUB: stream, id, data).
    pub publish_endpoints: Vec<String>,
    /// Native protocol endpoints (clients connect DEALER sockets; see
    /// `docs/native-protocol.md`). Empty in [`ServerOptions::default`], so
    /// that a program written for the earlier options binds no new port;
    /// the embedded default configuration binds
    /// [`DEFAULT_NATIVE_ENDPOINT`].
    pub native_endpoints: Vec<String>,
    /// ZeroMQ I/O threads.
    pub zmq_io_threads: i32,
    /// A request whose first frame equals this gets `QUIT` and stops the server.
    pub exit_codeword: Option<Vec<u8>>,
    /// The largest request accepted, all frames together, in bytes.
    pub max_message_size: usize,
    /// The stream v1 works on.
    pub default_stream: Vec<u8>,
    /// Where to serve the metrics in the Prometheus text format over HTTP
    /// (`host:port`, port 0 for any); `None`, the default, serves none.
    pub metrics_address: Option<String>,
    /// The server's CURVE secret key (Z85, 40 characters). When set, every
    /// endpoint requires ZeroMQ CURVE and admits only the clients of
    /// `curve_allowed_clients`; `None`, the default, leaves the endpoints
    /// open (and unencrypted).
    pub curve_secret_key: Option<String>,
    /// The server's CURVE public key (Z85), optional: when given, it must be
    /// the one that belongs to `curve_secret_key` (a check that the two keys
    /// of a pair were not mixed up).
    pub curve_public_key: Option<String>,
    /// The public keys (Z85) of the clients let in when CURVE is on.
    pub curve_allowed_clients: Vec<String>,
}

/// The v1 query endpoint of the embedded default (the original's example).
pub const DEFAULT_QUERY_ENDPOINT: &str = "tcp://127.0.0.1:9090";
/// The v1 streaming endpoint of the embedded default.
pub const DEFAULT_STREAMING_ENDPOINT: &str = "tcp://127.0.0.1:9091";
/// The v2 command endpoint of the embedded default (Gorewind's).
pub const DEFAULT_COMMAND_ENDPOINT: &str = "tcp://127.0.0.1:9002";
/// The v2 publish endpoint of the embedded default.
pub const DEFAULT_PUBLISH_ENDPOINT: &str = "tcp://127.0.0.1:9003";
/// The native protocol endpoint of the embedded default configuration.
pub const DEFAULT_NATIVE_ENDPOINT: &str = "tcp://127.0.0.1:9004";
/// The default maximum request size: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            query_endpoints: vec![DEFAULT_QUERY_ENDPOINT.into()],
            streaming_endpoints: vec![DEFAULT_STREAMING_ENDPOINT.into()],
            command_endpoints: vec![DEFAULT_COMMAND_ENDPOINT.into()],
            publish_endpoints: vec![DEFAULT_PUBLISH_ENDPOINT.into()],
            native_endpoints: Vec::new(),
            zmq_io_threads: 1,
            exit_codeword: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            default_stream: b"default".to_vec(),
            metrics_address: None,
            curve_secret_key: None,
            curve_public_key: None,
            curve_allowed_clients: Vec::new(),
        }
    }
}

impl ServerOptions {
    /// Checks the options: at least one request endpoint, sane limits,
    /// well-formed CURVE keys (see [`ServerOptions::check_curve`]).
    pub fn validate(&self) -> Result<()> {
        if self.query_endpoints.is_empty()
            && self.command_endpoints.is_empty()
            && self.native_endpoints.is_empty()
        {
            return Err(Error::Config(
                "at least one query, command or native endpoint is required".into(),
            ));
        }
        if self.zmq_io_threads < 1 {
            return Err(Error::InvalidArgument(format!(
                "zmq-nthreads must be at least 1, not {}",
                self.zmq_io_threads
            )));
        }
        if self.max_message_size == 0 {
            return Err(Error::InvalidArgument(
                "the maximum message size must be positive".into(),
            ));
        }
        crate::model::check_stream_name(&self.default_stream)?;
        if self.exit_codeword.as_ref().is_some_and(|c| c.is_empty()) {
            return Err(Error::InvalidArgument(
                "the exit codeword must not be empty".into(),
            ));
        }
        self.check_curve()
    }

    /// Checks the CURVE options: keys in Z85, a public key that belongs to
    /// the secret key, an allow-list only with a secret key and not empty
    /// with one, and a libzmq that has CURVE.
    ///
    /// Errors: [`Error::Config`] naming the option at fault.
    pub fn check_curve(&self) -> Result<()> {
        let Some(secret) = &self.curve_secret_key else {
            if self.curve_public_key.is_some() || !self.curve_allowed_clients.is_empty() {
                return Err(Error::Config(
                    "curve-public-key and curve-allowed-clients need curve-secret-key".into(),
                ));
            }
            return Ok(());
        };
        curve::require()?;
        curve::parse_key("curve-secret-key", secret)?;
        if let Some(public) = &self.curve_public_key {
            curve::parse_key("curve-public-key", public)?;
            if curve::public_key_of(secret)? != *public {
                return Err(Error::Config(
                    "curve-public-key is not the public key of curve-secret-key".into(),
                ));
            }
        }
        if self.curve_allowed_clients.is_empty() {
            return Err(Error::Config(
                "curve-secret-key needs curve-allowed-clients, the public keys of the \
                 clients to let in (without them no client could connect)"
                    .into(),
            ));
        }
        for key in &self.curve_allowed_clients {
            curve::parse_key(&format!("curve-allowed-clients entry '{key}'"), key)?;
        }
        Ok(())
    }

    /// One line per endpoint, for the start-up log.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |name: &str, eps: &[String]| {
            if !eps.is_empty() {
                parts.push(format!("{name} {}", eps.join(",")));
            }
        };
        add("v1 query", &self.query_endpoints);
        add("v1 streaming", &self.streaming_endpoints);
        add("v2 command", &self.command_endpoints);
        add("v2 publish", &self.publish_endpoints);
        add("native", &self.native_endpoints);
        if let Some(a) = &self.metrics_address {
            parts.push(format!("metrics http://{a}/metrics"));
        }
        if self.curve_secret_key.is_some() {
            parts.push(format!(
                "CURVE on, {} allowed client key(s)",
                self.curve_allowed_clients.len()
            ));
        }
        parts.join("; ")
    }

    /// What the request parser needs of the options.
    pub(super) fn parse_options(&self) -> ParseOptions<'_> {
        ParseOptions {
            default_stream: &self.default_stream,
            exit_codeword: self.exit_codeword.as_deref(),
            max_message_size: self.max_message_size,
        }
    }

    /// The same options without any endpoint, to be filled in with the
    /// endpoints as bound.
    pub(super) fn without_endpoints(&self) -> ServerOptions {
        ServerOptions {
            query_endpoints: Vec::new(),
            streaming_endpoints: Vec::new(),
            command_endpoints: Vec::new(),
            publish_endpoints: Vec::new(),
            native_endpoints: Vec::new(),
            metrics_address: None,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2_only() -> ServerOptions {
        ServerOptions {
            query_endpoints: vec![],
            streaming_endpoints: vec![],
            ..ServerOptions::default()
        }
    }

    #[test]
    fn the_defaults_are_valid_and_name_both_protocols() {
        let o = ServerOptions::default();
        o.validate().unwrap();
        assert_eq!(o.default_stream, b"default");
        assert_eq!(o.max_message_size, 16 * 1024 * 1024);
        assert_eq!(o.zmq_io_threads, 1);
        assert_eq!(o.exit_codeword, None);
        assert_eq!(
            o.describe(),
            "v1 query tcp://127.0.0.1:9090; v1 streaming tcp://127.0.0.1:9091; \
             v2 command tcp://127.0.0.1:9002; v2 publish tcp://127.0.0.1:9003"
        );
    }

    #[test]
    fn one_request_endpoint_of_either_protocol_is_enough() {
        v2_only().validate().unwrap();
        let v1_only = ServerOptions {
            command_endpoints: vec![],
            publish_endpoints: vec![],
            ..ServerOptions::default()
        };
        v1_only.validate().unwrap();
        let publish_only = ServerOptions {
            command_endpoints: vec![],
            ..v2_only()
        };
        let e = publish_only.validate().unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        assert!(
            e.to_string().contains("query, command or native endpoint"),
            "{e}"
        );
        let native_only = ServerOptions {
            native_endpoints: vec![DEFAULT_NATIVE_ENDPOINT.into()],
            ..publish_only
        };
        native_only.validate().unwrap();
    }

    #[test]
    fn bad_limits_and_names_are_refused() {
        let refused = |o: ServerOptions, needle: &str| {
            let e = o.validate().unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
            assert!(e.to_string().contains(needle), "{e} lacks {needle}");
        };
        refused(
            ServerOptions {
                zmq_io_threads: 0,
                ..ServerOptions::default()
            },
            "zmq-nthreads must be at least 1, not 0",
        );
        refused(
            ServerOptions {
                max_message_size: 0,
                ..ServerOptions::default()
            },
            "maximum message size must be positive",
        );
        refused(
            ServerOptions {
                exit_codeword: Some(vec![]),
                ..ServerOptions::default()
            },
            "exit codeword must not be empty",
        );
        refused(
            ServerOptions {
                default_stream: vec![],
                ..ServerOptions::default()
            },
            "stream",
        );
        refused(
            ServerOptions {
                default_stream: vec![b's'; crate::MAX_NAME_LEN + 1],
                ..ServerOptions::default()
            },
            "stream",
        );
        ServerOptions {
            exit_codeword: Some(b"BYE".to_vec()),
            default_stream: vec![b's'; crate::MAX_NAME_LEN],
            ..ServerOptions::default()
        }
        .validate()
        .unwrap();
    }

    const SECRET: &str = "JTKVSB%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6xx";

    fn curve_on() -> ServerOptions {
        let pair = crate::curve::generate_keypair().unwrap();
        let client = crate::curve::generate_keypair().unwrap();
        ServerOptions {
            curve_secret_key: Some(pair.secret),
            curve_public_key: Some(pair.public),
            curve_allowed_clients: vec![client.public],
            ..ServerOptions::default()
        }
    }

    #[test]
    fn curve_keys_are_checked() {
        let on = curve_on();
        on.validate().unwrap();
        assert!(on.describe().ends_with("CURVE on, 1 allowed client key(s)"));
        ServerOptions {
            curve_public_key: None,
            ..on.clone()
        }
        .validate()
        .unwrap();
        let refused = |o: ServerOptions, needle: &str| {
            let e = o.validate().unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{e:?}");
            assert!(e.to_string().contains(needle), "{e} lacks {needle}");
        };
        refused(
            ServerOptions {
                curve_secret_key: Some(SECRET[..39].into()),
                ..on.clone()
            },
            "curve-secret-key must be a CURVE key in Z85",
        );
        refused(
            ServerOptions {
                curve_public_key: Some(on.curve_allowed_clients[0].clone()),
                ..on.clone()
            },
            "curve-public-key is not the public key of curve-secret-key",
        );
        refused(
            ServerOptions {
                curve_public_key: Some("x".into()),
                ..on.clone()
            },
            "curve-public-key must be",
        );
        refused(
            ServerOptions {
                curve_allowed_clients: vec![],
                ..on.clone()
            },
            "needs curve-allowed-clients",
        );
        refused(
            ServerOptions {
                curve_allowed_clients: vec!["bad".into()],
                ..on.clone()
            },
            "curve-allowed-clients entry 'bad'",
        );
        refused(
            ServerOptions {
                curve_secret_key: None,
                curve_public_key: None,
                ..on.clone()
            },
            "need curve-secret-key",
        );
        refused(
            ServerOptions {
                curve_secret_key: None,
                curve_allowed_clients: vec![],
                ..on
            },
            "need curve-secret-key",
        );
    }

    #[test]
    fn describe_lists_only_the_endpoints_given_comma_separated() {
        let o = ServerOptions {
            command_endpoints: vec!["tcp://*:1".into(), "ipc:///tmp/r".into()],
            publish_endpoints: vec![],
            ..v2_only()
        };
        assert_eq!(o.describe(), "v2 command tcp://*:1,ipc:///tmp/r");
        let with_native = ServerOptions {
            native_endpoints: vec!["tcp://*:4".into()],
            ..o.clone()
        };
        assert_eq!(
            with_native.describe(),
            "v2 command tcp://*:1,ipc:///tmp/r; native tcp://*:4"
        );
        let none = ServerOptions {
            command_endpoints: vec![],
            ..o
        };
        assert_eq!(none.describe(), "");
    }

    #[test]
    fn the_parser_gets_the_stream_codeword_and_size_limit() {
        let o = ServerOptions {
            exit_codeword: Some(b"BYE".to_vec()),
            max_message_size: 7,
            default_stream: b"s".to_vec(),
            ..ServerOptions::default()
        };
        let p = o.parse_options();
        assert_eq!(p.default_stream, b"s");
        assert_eq!(p.exit_codeword, Some(&b"BYE"[..]));
        assert_eq!(p.max_message_size, 7);
        assert_eq!(ServerOptions::default().parse_options().exit_codeword, None);
    }

    #[test]
    fn without_endpoints_keeps_the_limits() {
        let o = ServerOptions {
            exit_codeword: Some(b"BYE".to_vec()),
            max_message_size: 7,
            zmq_io_threads: 3,
            default_stream: b"s".to_vec(),
            ..ServerOptions::default()
        };
        let bare = o.without_endpoints();
        assert!(bare.query_endpoints.is_empty() && bare.streaming_endpoints.is_empty());
        assert!(bare.command_endpoints.is_empty() && bare.publish_endpoints.is_empty());
        assert_eq!(
            ServerOptions {
                query_endpoints: o.query_endpoints.clone(),
                streaming_endpoints: o.streaming_endpoints.clone(),
                command_endpoints: o.command_endpoints.clone(),
                publish_endpoints: o.publish_endpoints.clone(),
                native_endpoints: o.native_endpoints.clone(),
                ..bare
            },
            o
        );
    }
}
