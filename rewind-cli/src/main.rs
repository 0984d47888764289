//! `rewind`: the event store server.
//!
//! The command line is the core's ([`rewind_core::config::FLAGS`]); start-up
//! is the core's ([`Service`]). This file adds what only a process has:
//! argument parsing, logging, and SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};
use rewind_core::config::{Config, Overrides, FLAGS};
use rewind_core::server::ExitReason;
use rewind_core::service::Service;
use rewind_core::Error;

const ABOUT: &str = "Event storage and event proxy: persists events, broadcasts them over \
ZeroMQ and answers range queries.";

const AFTER_HELP: &str = "Without CONFIGFILE, rewind serves an LMDB store in ./rewind-data on \
the default endpoints: v1 query tcp://127.0.0.1:9090, v1 streaming :9091, v2 command \
tcp://127.0.0.1:9002, v2 publish :9003. Options override the configuration file; an empty \
endpoint disables it.";

fn command() -> Command {
    let mut cmd = Command::new("rewind")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .after_help(AFTER_HELP)
        .arg(
            Arg::new("configfile")
                .value_name("CONFIGFILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("An INI configuration file in the original Rewind format."),
        );
    for flag in FLAGS {
        let arg = Arg::new(flag.name).long(flag.name).help(flag.help);
        cmd = cmd.arg(match flag.value_name {
            Some(v) => arg.value_name(v).action(ArgAction::Set),
            None => arg.action(ArgAction::SetTrue),
        });
    }
    cmd
}

fn config_from(matches: &ArgMatches) -> Result<Config, Error> {
    let mut config = Config::load(
        matches
            .get_one::<PathBuf>("configfile")
            .map(PathBuf::as_path),
    )?;
    let mut overrides = Overrides::new();
    for flag in FLAGS {
        match flag.value_name {
            Some(_) => {
                if let Some(v) = matches.get_one::<String>(flag.name) {
                    overrides.set(flag.name, Some(v.clone()))?;
                }
            }
            None => {
                if matches.get_flag(flag.name) {
                    overrides.set(flag.name, None)?;
                }
            }
        }
    }
    overrides.apply(&mut config)?;
    Ok(config)
}

fn run(matches: &ArgMatches) -> Result<ExitReason, Error> {
    let config = config_from(matches)?;
    let service = Service::start(&config)?;
    let stopper = service.stop_handle();
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
    eprintln!("{}", service.ready_line());
    let reason = service.join();
    signal_handle.close();
    let _ = signal_thread.join();
    let reason = reason?;
    log::info!("stopped ({reason:?})");
    Ok(reason)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let matches = command().get_matches();
    match run(&matches) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rewind: error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn flags_become_overrides() {
        let m = command()
            .try_get_matches_from([
                "rewind",
                "--in-memory",
                "--query-bind-endpoint",
                "tcp://127.0.0.1:1",
            ])
            .unwrap();
        let c = config_from(&m).unwrap();
        assert_eq!(c.store, rewind_core::config::StoreConfig::InMemory);
        assert_eq!(c.server.query_endpoints, vec!["tcp://127.0.0.1:1"]);
    }
}
