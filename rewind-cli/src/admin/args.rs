//! The command line of `rewind-admin`: its subcommands and their flags.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Operate a Rewind store: look at it, follow it, check it, back it up, \
export and import it; make CURVE keys. Every subcommand but import opens the store read-only \
and may run while a server writes it.";

const AFTER_HELP: &str = "Exit status: 0 on success; 1 on an error (one line \
`rewind-admin: error: ...` on stderr); 2 when verify finds problems.";

/// `rewind-admin`.
#[derive(Debug, Parser)]
#[command(name = "rewind-admin", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Events, streams, size on disk, map size and use, head position, format.
    Stats {
        /// The store directory.
        dir: PathBuf,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every stream, with its event count and last version and position.
    Streams {
        /// The store directory.
        dir: PathBuf,
        /// Only the streams whose name starts with this.
        #[arg(long, value_name = "P")]
        prefix: Option<OsString>,
        /// One JSON object per stream and line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the events of the log, or of one stream, from a position or version on.
    Cat {
        /// The store directory.
        dir: PathBuf,
        /// Print this stream (from a version) instead of the log (from a position).
        #[arg(long, value_name = "S")]
        stream: Option<OsString>,
        /// The first position (or, with --stream, version) to print.
        #[arg(long, value_name = "POSITION_OR_VERSION", default_value_t = 0)]
        from: u64,
        /// Print at most this many events.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        #[command(flatten)]
        out: EventOutput,
    },
    /// Print the last events of the log, or of one stream.
    Tail {
        /// The store directory.
        dir: PathBuf,
        /// Print this stream's last events instead of the log's.
        #[arg(long, value_name = "S")]
        stream: Option<OsString>,
        /// How many events.
        #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 10)]
        n: u64,
        #[command(flatten)]
        out: EventOutput,
    },
    /// Write every event to a file in the export format.
    Export {
        /// The store directory.
        dir: PathBuf,
        /// Where to write: a file (written aside, then renamed into place) or - for stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE", default_value = "-")]
        output: PathBuf,
    },
    /// Create a store from an export file; DIR must not exist or be empty.
    Import {
        /// The new store's directory.
        dir: PathBuf,
        /// The export file, or - for stdin.
        #[arg(short = 'i', long = "input", value_name = "FILE", default_value = "-")]
        input: PathBuf,
    },
    /// Copy the store, compacted and consistent, to DEST (which must not exist or be empty).
    Backup {
        /// The store directory.
        dir: PathBuf,
        /// The backup's directory.
        dest: PathBuf,
    },
    /// Print a new ZeroMQ CURVE key pair (Z85): `public-key=` and `secret-key=` lines.
    Keygen {
        /// Name the lines for the server's [general] section instead:
        /// `curve-public-key=` and `curve-secret-key=`.
        #[arg(long)]
        server: bool,
    },
    /// Check every index of the store against its log.
    Verify {
        /// The store directory.
        dir: PathBuf,
        /// Print at most this many problems.
        #[arg(long, value_name = "N", default_value_t = 20)]
        max_problems: usize,
    },
}

/// How `cat` and `tail` print events.
#[derive(Debug, Args)]
pub struct EventOutput {
    /// Keep printing events as a server commits them, until SIGINT or SIGTERM.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// text: `position stream version id data`, escaped; jsonl: the export format's event lines.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// In text, show at most this many bytes of each event's data.
    #[arg(long, value_name = "BYTES")]
    pub max_data: Option<usize>,
}

/// An output format of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per event: position, stream, version, id, data; escaped.
    Text,
    /// One JSON object per line; stream, id and data in base64.
    Jsonl,
}
