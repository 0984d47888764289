//! `rewind-admin`: the operator's companion to `rewind` (stats, streams,
//! cat, tail, export, import, backup, verify, keygen).
//!
//! A thin layer over [`rewind_core::admin`]: this binary parses the command
//! line, prints, draws progress on a terminal and turns SIGINT/SIGTERM into
//! a request to stop. `rewind CONFIGFILE` keeps the original's command
//! line, so these tools live in a command of their own.

mod args;
mod follow;
mod progress;
mod show;

use std::io::{BufReader, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use rewind_core::admin::{self, Cursor};
use rewind_core::Error;

use args::{Cli, Command};
use progress::{human_bytes, stderr_is_terminal, stop_on_signals, Meter, Unit};

/// How a subcommand did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// An error, said in one line.
    Error(String),
    /// The reader of stdout went away: stop quietly.
    BrokenPipe,
    /// `verify` found problems (already printed).
    Problems,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe => Failure::BrokenPipe,
            Error::InvalidArgument(m) => Failure::Error(m),
            Error::Io(io) if io.kind() == std::io::ErrorKind::Interrupted => {
                Failure::Error("interrupted".into())
            }
            Error::Io(io) => Failure::Error(io.to_string()),
            e => Failure::Error(e.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Error::from(e).into()
    }
}

/// Writes `text` to stdout.
fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Says `text` on stderr when it is a terminal (scripts get silence).
fn tell(text: &str) {
    if stderr_is_terminal() {
        eprintln!("{text}");
    }
}

fn stream_bytes(s: &Option<std::ffi::OsString>) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    s.as_ref().map(|s| s.as_bytes().to_vec())
}

/// A new CURVE key pair as lines that paste into a configuration file
/// (the keys have no `%`, see [`rewind_core::curve::generate_keypair`]) and
/// into client options; comments say where each key goes.
fn keygen(server: bool) -> Result<String, Failure> {
    let pair = rewind_core::curve::generate_keypair()?;
    let (prefix, comment) = if server {
        (
            "curve-",
            "# The server's CURVE key pair: these lines go into [general]; clients \
             need the public key.\n",
        )
    } else {
        (
            "",
            "# A CURVE key pair (Z85). A client's public key goes on the server's \
             curve-allowed-clients;\n# its secret key stays with the client. \
             For a server's pair, use keygen --server.\n",
        )
    };
    Ok(format!(
        "{comment}{prefix}public-key={}\n{prefix}secret-key={}\n",
        pair.public, pair.secret
    ))
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Stats { dir, json } => {
            let store = admin::open_read_only(&dir)?;
            print(&show::stats(&dir, &store.stats()?, json))
        }
        Command::Streams { dir, prefix, json } => {
            let store = admin::open_read_only(&dir)?;
            let prefix = stream_bytes(&prefix).unwrap_or_default();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut line = String::new();
            let mut failed = None;
            store.streams(&prefix, |name, head| {
                line.clear();
                show::stream_line(&mut line, name, &head, json);
                match out.write_all(line.as_bytes()) {
                    Ok(()) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            })?;
            if let Some(e) = failed {
                return Err(e.into());
            }
            out.flush()?;
            Ok(())
        }
        Command::Cat {
            dir,
            stream,
            from,
            limit,
            out,
        } => {
            let store = admin::open_read_only(&dir)?;
            let cursor = match stream_bytes(&stream) {
                Some(s) => Cursor::stream(s, from),
                None => Cursor::log(from),
            };
            let stop = if out.follow {
                stop_on_signals()?
            } else {
                Default::default()
            };
            follow::print_events(&store, cursor, limit, &out, &stop)
        }
        Command::Tail {
            dir,
            stream,
            n,
            out,
        } => {
            let store = admin::open_read_only(&dir)?;
            let cursor = Cursor::last(&store, stream_bytes(&stream).as_deref(), n)?;
            let stop = if out.follow {
                stop_on_signals()?
            } else {
                Default::default()
            };
            let limit = if out.follow { None } else { Some(n) };
            follow::print_events(&store, cursor, limit, &out, &stop)
        }
        Command::Export { dir, output } => export(&dir, &output),
        Command::Import { dir, input } => {
            let mut meter = Meter::new("import", Unit::Items("events"), stop_on_signals()?);
            let name = input.display().to_string();
            let result = if input == Path::new("-") {
                let stdin = std::io::stdin();
                admin::import(&dir, &mut stdin.lock(), &mut meter)
            } else {
                let file = std::fs::File::open(&input)
                    .map_err(|e| Failure::Error(format!("cannot read {name}: {e}")))?;
                admin::import(
                    &dir,
                    &mut BufReader::with_capacity(1 << 20, file),
                    &mut meter,
                )
            };
            meter.clear();
            let summary = result.map_err(|e| match Failure::from(e) {
                Failure::Error(m) => Failure::Error(format!("cannot import {name}: {m}")),
                f => f,
            })?;
            tell(&format!(
                "imported {} events into {}",
                summary.events,
                dir.display()
            ));
            Ok(())
        }
        Command::Backup { dir, dest } => {
            let mut meter = Meter::new("backup", Unit::Bytes, stop_on_signals()?);
            let summary = admin::backup(&dir, &dest, &mut meter);
            meter.clear();
            let summary = summary?;
            tell(&format!(
                "backed up {} events to {} ({})",
                summary.events,
                dest.display(),
                human_bytes(summary.bytes)
            ));
            Ok(())
        }
        Command::Keygen { server } => print(&keygen(server)?),
        Command::Verify { dir, max_problems } => {
            let store = admin::open_read_only(&dir)?;
            let mut meter = Meter::new("verify", Unit::Items("entries"), stop_on_signals()?);
            let report = store.verify(max_problems, |done, total| {
                use rewind_core::admin::Progress;
                meter.report(done, total);
                !meter.stop_requested()
            });
            meter.clear();
            let report = report?;
            let mut text = String::new();
            for p in &report.problems {
                text.push_str(p);
                text.push('\n');
            }
            if report.is_ok() {
                text.push_str(&format!(
                    "ok: {} events, {} streams, {} index entries consistent in {}\n",
                    report.events,
                    report.streams,
                    report.index_entries,
                    dir.display()
                ));
                print(&text)
            } else {
                text.push_str(&format!(
                    "{} problem(s) in {} ({} shown); {} events, {} streams, {} index entries checked\n",
                    report.problem_count,
                    dir.display(),
                    report.problems.len(),
                    report.events,
                    report.streams,
                    report.index_entries
                ));
                print(&text)?;
                Err(Failure::Problems)
            }
        }
    }
}

/// `export`: to stdout, or to a file written aside and renamed into place.
fn export(dir: &Path, output: &Path) -> Result<(), Failure> {
    let store = admin::open_read_only(dir)?;
    let mut meter = Meter::new("export", Unit::Items("events"), stop_on_signals()?);
    if output == Path::new("-") {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        let summary = admin::export(&store, &mut out, &mut meter);
        meter.clear();
        let summary = summary?;
        if !std::io::stdout().is_terminal() {
            tell(&format!("exported {} events", summary.events));
        }
        return Ok(());
    }
    let name = output
        .file_name()
        .ok_or_else(|| Failure::Error(format!("{} names no file", output.display())))?;
    let mut aside = std::ffi::OsString::from(".");
    aside.push(name);
    aside.push(format!(".export-{}", std::process::id()));
    let aside = output.with_file_name(aside);
    let written = (|| -> Result<admin::ExportSummary, Failure> {
        let file = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&aside)
            .map_err(|e| Failure::Error(format!("cannot create {}: {e}", aside.display())))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let summary = admin::export(&store, &mut out, &mut meter)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&aside, output)
            .map_err(|e| Failure::Error(format!("cannot write {}: {e}", output.display())))?;
        Ok(summary)
    })();
    meter.clear();
    let summary = match written {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&aside);
            return Err(e);
        }
    };
    tell(&format!(
        "exported {} events to {} (sha256 {})",
        summary.events,
        output.display(),
        summary.sha256
    ));
    Ok(())
}

/// The first line of a command-line error, without clap's `error: `.
fn usage_error(e: &clap::Error) -> String {
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return "a subcommand is needed: stats, streams, cat, tail, export, import, backup \
                or verify (see rewind-admin --help)"
            .into();
    }
    // clap's first paragraph, on one line.
    let text = e.to_string();
    let first: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let first = first.join(" ");
    let first = first.strip_prefix("error: ").unwrap_or(&first);
    format!("{first} (see rewind-admin --help)")
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_target(false)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("rewind-admin: error: {}", usage_error(&e));
            return ExitCode::FAILURE;
        }
    };
    match run(cli) {
        Ok(()) | Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(Failure::Problems) => ExitCode::from(2),
        Err(Failure::Error(m)) => {
            eprintln!("rewind-admin: error: {m}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_command_lines_are_one_line() {
        for argv in [
            &["rewind-admin"][..],
            &["rewind-admin", "stats"],
            &["rewind-admin", "backup", "x"],
            &["rewind-admin", "frobnicate", "x"],
            &["rewind-admin", "cat", "x", "--limit", "many"],
            &["rewind-admin", "stats", "x", "--bogus"],
        ] {
            let e = Cli::try_parse_from(argv).unwrap_err();
            let line = usage_error(&e);
            assert!(
                !line.contains('\n') && line.ends_with("(see rewind-admin --help)"),
                "{line}"
            );
            assert!(!line.contains("Usage"), "{line}");
        }
    }
}
