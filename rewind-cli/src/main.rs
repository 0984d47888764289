//! `rewind`: the event store server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rewind_core::config::{parse_size, split_endpoints, Config, Ini, StoreConfig};
use rewind_core::lmdb::LmdbOptions;
use rewind_core::server::{ExitReason, Server};
use rewind_core::{Error, Store, StoreOptions};

/// Event storage and event proxy: persists events, broadcasts them over
/// ZeroMQ and answers range queries.
///
/// Without CONFIGFILE, rewind serves an LMDB store in ./rewind-data on the
/// default endpoints: v1 query tcp://127.0.0.1:9090, v1 streaming :9091,
/// v2 command tcp://127.0.0.1:9002, v2 publish :9003. Flags override the
/// configuration file; an empty endpoint disables it.
#[derive(Parser, Debug)]
#[command(name = "rewind", version)]
struct Args {
    /// An INI configuration file in the original Rewind format.
    configfile: Option<PathBuf>,
    /// An incoming message that makes the server reply QUIT and exit.
    #[arg(long, value_name = "MSG")]
    exit_codeword: Option<String>,
    /// Serve the LMDB store in this directory.
    #[arg(long, value_name = "DIR", conflicts_with = "in_memory")]
    data_dir: Option<PathBuf>,
    /// Keep events in memory only (lost when the server stops).
    #[arg(long)]
    in_memory: bool,
    /// v1 query endpoint(s), comma-separated (REQ clients).
    #[arg(long, value_name = "EP")]
    query_bind_endpoint: Option<String>,
    /// v1 streaming endpoint(s), comma-separated (PUB: id, previous id, data).
    #[arg(long, value_name = "EP")]
    streaming_bind_endpoint: Option<String>,
    /// v2 command endpoint(s), comma-separated (DEALER clients).
    #[arg(long, value_name = "EP")]
    command_bind_endpoint: Option<String>,
    /// v2 publish endpoint(s), comma-separated (PUB: stream, id, data).
    #[arg(long, value_name = "EP")]
    publish_bind_endpoint: Option<String>,
    /// ZeroMQ I/O threads.
    #[arg(long, value_name = "N")]
    zmq_nthreads: Option<String>,
    /// The largest request accepted, in bytes (K, M, G suffixes allowed).
    #[arg(long, value_name = "BYTES")]
    max_message_size: Option<String>,
    /// The stream the v1 protocol works on.
    #[arg(long, value_name = "NAME")]
    default_stream: Option<String>,
    /// The size the LMDB store may grow to (K, M, G, T suffixes allowed).
    #[arg(long, value_name = "BYTES")]
    map_size_limit: Option<String>,
}

fn config_from(args: &Args) -> Result<Config, Error> {
    let mut config = match &args.configfile {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
            Config::from_ini(&Ini::parse(&text)?)?
        }
        None => Config::embedded_default(),
    };
    let s = &mut config.server;
    let endpoints = [
        (&args.query_bind_endpoint, &mut s.query_endpoints),
        (&args.streaming_bind_endpoint, &mut s.streaming_endpoints),
        (&args.command_bind_endpoint, &mut s.command_endpoints),
        (&args.publish_bind_endpoint, &mut s.publish_endpoints),
    ];
    for (flag, target) in endpoints {
        if let Some(v) = flag {
            *target = split_endpoints(v);
        }
    }
    if let Some(n) = &args.zmq_nthreads {
        s.zmq_io_threads = n.parse().map_err(|_| {
            Error::InvalidArgument(format!("--zmq-nthreads must be an integer, not '{n}'"))
        })?;
    }
    let size = |flag: &str, v: &str| {
        parse_size(v).ok_or_else(|| {
            Error::InvalidArgument(format!("{flag} must be a size in bytes, not '{v}'"))
        })
    };
    if let Some(v) = &args.max_message_size {
        s.max_message_size = size("--max-message-size", v)?;
    }
    if let Some(v) = &args.default_stream {
        s.default_stream = v.as_bytes().to_vec();
    }
    s.exit_codeword = args.exit_codeword.as_ref().map(|c| c.as_bytes().to_vec());
    if args.in_memory {
        config.store = StoreConfig::InMemory;
    } else if let Some(dir) = &args.data_dir {
        config.store = StoreConfig::Lmdb(LmdbOptions::new(dir));
    }
    if let Some(v) = &args.map_size_limit {
        let limit = size("--map-size-limit", v)?;
        match &mut config.store {
            StoreConfig::Lmdb(o) => o.max_map_size = Some(limit),
            _ => {
                return Err(Error::Config(
                    "--map-size-limit applies to an LMDB store only".into(),
                ))
            }
        }
    }
    config.server.validate()?;
    Ok(config)
}

fn run(args: &Args) -> Result<ExitReason, Error> {
    let config = config_from(args)?;
    let (options, what) = match &config.store {
        StoreConfig::InMemory => (StoreOptions::InMemory, "an in-memory store".to_string()),
        StoreConfig::Lmdb(o) => (
            StoreOptions::Lmdb(o.clone()),
            format!("the LMDB store in {}", o.path.display()),
        ),
        StoreConfig::Class { class, section } => {
            return Err(Error::Config(format!(
                "store class {class} (section [{section}]) cannot be served by this binary, \
                 which serves LMDBEventStore and InMemoryEventStore; the Python package \
                 (pip install rewind) serves the original Python stores"
            )))
        }
    };
    let store = Store::open(&options)?;
    let server = Server::start(store.clone(), config.server.clone())?;
    let stopper = server.stop_handle();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(Error::Io)?;
    let signal_handle = signals.handle();
    let signal_thread = std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            log::info!("signal {sig} received: stopping");
            stopper.stop();
        }
    });
    eprintln!(
        "rewind is ready: serving {what} on {}",
        server.bound_options().describe()
    );
    let reason = server.join();
    signal_handle.close();
    let _ = signal_thread.join();
    store.close()?;
    let reason = reason?;
    log::info!("stopped ({reason:?})");
    Ok(reason)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let args = Args::parse();
    match run(&args) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rewind: error: {e}");
            ExitCode::FAILURE
        }
    }
}
