//! Progress on long steps: a spinner with elapsed time on a terminal, plain start/finish
//! lines otherwise (CI logs), always with the step's duration at the end.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// One long step. Finish it with [`Step::done`]; dropping it unfinished reports failure.
pub struct Step {
    label: String,
    start: Instant,
    bar: Option<ProgressBar>,
    finished: bool,
}

impl Step {
    pub fn start(label: impl Into<String>) -> Self {
        let label = label.into();
        let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .expect("static template"),
            );
            b.set_message(label.clone());
            b.enable_steady_tick(Duration::from_millis(120));
            Some(b)
        } else {
            eprintln!("ksock: {label} ...");
            None
        };
        Self {
            label,
            start: Instant::now(),
            bar,
            finished: false,
        }
    }

    /// Updates the message shown next to the spinner (no-op in plain mode).
    pub fn set_detail(&self, detail: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{}: {detail}", self.label));
        }
    }

    /// A handle that can update the detail from another thread (a console reader).
    pub fn detail_handle(&self) -> Detail {
        Detail {
            bar: self.bar.clone(),
            label: self.label.clone(),
        }
    }

    pub fn done(mut self, result: &str) {
        self.finish(result);
    }

    fn finish(&mut self, result: &str) {
        self.finished = true;
        let line = format!(
            "ksock: {} — {result} ({:.1} s)",
            self.label,
            self.start.elapsed().as_secs_f64()
        );
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        eprintln!("{line}");
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.finished {
            self.finish("FAILED");
        }
    }
}

/// See [`Step::detail_handle`].
#[derive(Clone)]
pub struct Detail {
    bar: Option<ProgressBar>,
    label: String,
}

impl Detail {
    pub fn set(&self, detail: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{}: {detail}", self.label));
        }
    }
}
