//! Turns between groups of tests in one test binary: tests of one group may
//! run at the same time, tests of different groups never do.
//!
//! When each module of a suite was its own test binary, cargo ran the
//! binaries one after another, so a test that measures throughput only ever
//! shared the machine with its own module's tests. Gathered into one
//! binary, the modules' tests would all run side by side; a test that holds
//! a [`Turn`] for its module keeps the old isolation.

use std::sync::{Condvar, Mutex, MutexGuard};

/// The turn-taking of one test binary (a `static` in its `main.rs`).
pub struct Turns {
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    /// The group whose tests run now, if any.
    group: Option<&'static str>,
    /// How many of its tests run now.
    running: usize,
}

impl Turns {
    /// Nobody's turn yet.
    pub const fn new() -> Turns {
        Turns {
            state: Mutex::new(State {
                group: None,
                running: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// Waits until no test of another group runs, then runs as one of
    /// `group` until the returned turn drops. Pass `module_path!()`.
    pub fn take(&self, group: &'static str) -> Turn<'_> {
        let mut s = self.lock();
        while s.running > 0 && s.group != Some(group) {
            s = self
                .changed
                .wait(s)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        s.group = Some(group);
        s.running += 1;
        Turn { turns: self }
    }

    /// The state; a test that panicked while holding the lock (it never
    /// does, the lock is held only to count) does not stop the others.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for Turns {
    fn default() -> Self {
        Turns::new()
    }
}

/// One running test's share of its group's turn; ends it when the last one
/// drops (also when the test panics).
pub struct Turn<'a> {
    turns: &'a Turns,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut s = self.turns.lock();
        s.running -= 1;
        if s.running == 0 {
            s.group = None;
            self.turns.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::Duration;

    #[test]
    fn groups_never_overlap_and_a_group_runs_together() {
        static TURNS: Turns = Turns::new();
        static IN_A: AtomicUsize = AtomicUsize::new(0);
        static IN_B: AtomicUsize = AtomicUsize::new(0);
        static MAX_A: AtomicUsize = AtomicUsize::new(0);
        let run = |group: &'static str| {
            thread::spawn(move || {
                let _turn = TURNS.take(group);
                let (mine, theirs) = if group == "a" {
                    (&IN_A, &IN_B)
                } else {
                    (&IN_B, &IN_A)
                };
                let n = mine.fetch_add(1, Ordering::SeqCst) + 1;
                if group == "a" {
                    MAX_A.fetch_max(n, Ordering::SeqCst);
                }
                for _ in 0..20 {
                    assert_eq!(theirs.load(Ordering::SeqCst), 0, "groups overlap");
                    thread::sleep(Duration::from_millis(5));
                }
                mine.fetch_sub(1, Ordering::SeqCst);
            })
        };
        let first = TURNS.take("a");
        let threads: Vec<_> = ["a", "b", "a", "b", "a"].into_iter().map(run).collect();
        // The two other tests of group "a" join the turn that is held; the
        // tests of "b" wait for it.
        thread::sleep(Duration::from_millis(50));
        drop(first);
        for t in threads {
            t.join().unwrap();
        }
        assert!(
            MAX_A.load(Ordering::SeqCst) >= 2,
            "a group's tests run together"
        );
    }
}
