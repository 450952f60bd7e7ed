//! Progress of long steps: spinners on a terminal, plain timestamped lines otherwise (CI
//! logs, pipes), both on stderr.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Where steps report.
#[derive(Clone)]
pub struct Progress {
    bars: Option<MultiProgress>,
}

/// One running step; finish it with [`Step::done`] or [`Step::fail`] (dropping it unfinished
/// reports it as abandoned).
pub struct Step {
    name: String,
    bar: Option<ProgressBar>,
    started: Instant,
    finished: bool,
}

fn stamp() -> String {
    jiff::Timestamp::now().strftime("%H:%M:%S").to_string()
}

impl Progress {
    /// Spinners when stderr is a terminal (and `HUBSPOKE_PROGRESS` is not `plain`).
    pub fn new() -> Self {
        let plain = std::env::var("HUBSPOKE_PROGRESS").is_ok_and(|v| v == "plain");
        if !plain && std::io::stderr().is_terminal() {
            Progress {
                bars: Some(MultiProgress::new()),
            }
        } else {
            Progress::plain()
        }
    }

    pub fn plain() -> Self {
        Progress { bars: None }
    }

    pub fn step(&self, name: impl Into<String>) -> Step {
        let name = name.into();
        let bar = self.bars.as_ref().map(|m| {
            let b = m.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_message(name.clone());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        if bar.is_none() {
            eprintln!("[{}] {name} ...", stamp());
        }
        tracing::debug!(step = %name, "started");
        Step {
            name,
            bar,
            started: Instant::now(),
            finished: false,
        }
    }

    /// A line between steps.
    pub fn note(&self, line: &str) {
        match &self.bars {
            Some(m) => {
                let _ = m.println(line);
            }
            None => eprintln!("[{}] {line}", stamp()),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Step {
    /// Updates what the step is doing now.
    pub fn set(&self, detail: &str) {
        match &self.bar {
            Some(b) => b.set_message(format!("{}: {detail}", self.name)),
            None => eprintln!("[{}] {}: {detail}", stamp(), self.name),
        }
    }

    fn finish(&mut self, mark: &str, detail: &str) {
        self.finished = true;
        let took = self.started.elapsed().as_secs_f64();
        let line = if detail.is_empty() {
            format!("{mark} {} ({took:.1}s)", self.name)
        } else {
            format!("{mark} {}: {detail} ({took:.1}s)", self.name)
        };
        match self.bar.take() {
            Some(b) => b.finish_with_message(line),
            None => eprintln!("[{}] {line}", stamp()),
        }
    }

    pub fn done(mut self, detail: &str) {
        tracing::info!(step = %self.name, detail, "done");
        self.finish("ok", detail);
    }

    pub fn fail(mut self, why: &str) {
        tracing::warn!(step = %self.name, why, "failed");
        self.finish("FAILED", why);
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.finished {
            self.finish("abandoned", "");
        }
    }
}
