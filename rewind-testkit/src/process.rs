//! A running `rewind` process ([`Rewind`]): the output it writes, kept for
//! failure messages; signals; waiting for its exit. The process is killed
//! when its handle drops, so a failing test leaves no server behind.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ExitStatus};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::endpoints::Endpoints;

/// How long the binary may take to print `rewind is ready` (the machine may
/// be busy building).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping server may take to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of the server's output is kept for failure messages.
const OUTPUT_KEEP: usize = 64 << 10;

/// Asserts that `text` carries no Rust panic trace.
pub fn assert_no_panic(text: &str) {
    assert!(
        !text.contains("panicked at") && !text.contains("stack backtrace"),
        "a Rust panic trace appeared:\n{text}"
    );
}

/// Reads `pipe` line by line on a thread of its own, appending each line to
/// `into` (keeping its tail) and sending it to `lines` when given.
pub(crate) fn drain(
    pipe: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    keep_tail(&mut into.lock().unwrap(), &line);
                    if let Some(tx) = &lines {
                        let _ = tx.send(line);
                    }
                }
            }
        }
    })
}

/// Appends `line` to `out`, keeping only the last part of a long output.
fn keep_tail(out: &mut String, line: &str) {
    out.push_str(line);
    if out.len() > 2 * OUTPUT_KEEP {
        let mut cut = out.len() - OUTPUT_KEEP;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out.replace_range(..cut, "[...]\n");
    }
}

/// Waits up to `timeout` for `child` to exit; `None` if it still runs.
pub(crate) fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The last 20 lines of a captured output, for failure messages.
pub(crate) fn tail_of(log: &Arc<Mutex<String>>) -> String {
    let all = log.lock().unwrap();
    let lines: Vec<&str> = all.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A running `rewind` process. Killed on drop.
pub struct Rewind {
    child: Option<Child>,
    /// Where its sockets are.
    pub endpoints: Endpoints,
    /// Its stderr and stdout, interleaved by line (the tail of a long one).
    pub(crate) output: Arc<Mutex<String>>,
    /// The client-side ZeroMQ context.
    pub ctx: zmq::Context,
}

impl Rewind {
    /// Takes over a freshly spawned child: its stderr and stdout are read
    /// into [`Rewind::output`], and each stderr line is also sent to
    /// `stderr_lines` when given.
    pub(crate) fn capture(
        mut child: Child,
        endpoints: Endpoints,
        stderr_lines: Option<mpsc::Sender<String>>,
    ) -> Rewind {
        let output = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().unwrap(), output.clone(), stderr_lines);
        drain(child.stdout.take().unwrap(), output.clone(), None);
        Rewind {
            child: Some(child),
            endpoints,
            output,
            ctx: zmq::Context::new(),
        }
    }

    /// Everything the process wrote to stderr and stdout so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("process handle").id() as i32
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({sig}) failed");
    }

    /// Waits up to `timeout` for the process to exit; `None` if it still runs.
    pub(crate) fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_timeout(self.child.as_mut().expect("process handle"), timeout)
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        match self.wait_timeout(EXIT_TIMEOUT) {
            Some(s) => {
                // Let the drain threads catch the last lines.
                thread::sleep(Duration::from_millis(50));
                assert_no_panic(&self.output());
                s
            }
            None => panic!(
                "rewind did not exit within {EXIT_TIMEOUT:?}; output:\n{}",
                self.output()
            ),
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .expect("process handle")
            .try_wait()
            .unwrap()
            .is_none()
    }

    /// Asserts the process is still running (did not crash).
    pub fn assert_running(&mut self) {
        if !self.is_running() {
            let status = self.wait_exit();
            panic!(
                "rewind is no longer running ({status:?}); output:\n{}",
                self.output()
            );
        }
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill9(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("server already gone");
        let _ = c.kill();
        c.wait().expect("wait for the killed server")
    }

    /// SIGTERM, then asserts a clean exit with status 0.
    pub fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit();
        assert_eq!(
            status.code(),
            Some(0),
            "rewind should exit 0 on SIGTERM, got {status:?}; output:\n{}",
            self.output()
        );
    }

    /// The last lines of the output, for failure messages.
    pub fn tail(&self) -> String {
        tail_of(&self.output)
    }
}

impl Drop for Rewind {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
