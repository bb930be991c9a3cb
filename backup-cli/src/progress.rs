//! Progress bars with indicatif, only on a terminal, outside CI, and without `--json` or `--no-progress`.

use std::io::IsTerminal;
use std::sync::Arc;

use backup_core::progress::{NoProgress, Progress, Task, Unit};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::global::Global;
use crate::print::terminal_safe;

struct Bars {
    multi: MultiProgress,
}

struct Bar(ProgressBar);

impl Task for Bar {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn message(&self, text: &str) {
        self.0.set_message(terminal_safe(text).into_owned());
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bars {
    fn start(&self, label: &str, total: Option<u64>, unit: Unit) -> Box<dyn Task> {
        let bar = bar(label, total, unit);
        // A short task never draws: indicatif waits before the first frame.
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Box::new(Bar(self.multi.add(bar)))
    }
}

/// A bar labelled `label`, which names files and workspaces from the service: shown terminal-safe, as every text.
fn bar(label: &str, total: Option<u64>, unit: Unit) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    let template = match unit {
        Unit::Bytes => "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        Unit::Items => "{prefix} [{bar:30}] {pos}/{len} {msg}",
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(terminal_safe(label).into_owned());
    bar
}

/// The progress reporter the options allow.
pub fn reporter(global: &Global) -> Arc<dyn Progress> {
    let in_ci = std::env::var_os("CI").is_some();
    if global.json
        || global.no_progress
        || global.quiet
        || in_ci
        || !std::io::stderr().is_terminal()
    {
        return Arc::new(NoProgress);
    }
    Arc::new(Bars { multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_or_message_from_the_service_cannot_drive_the_terminal() {
        let bar = bar("copying Fin\u{1b}[2Jance/\u{202e}fba.exe", Some(1), Unit::Bytes);
        assert_eq!(bar.prefix(), "copying Fin\\u{001b}[2Jance/\\u{202e}fba.exe");
        Bar(bar.clone()).message("Model\u{7}");
        assert_eq!(bar.message(), "Model\\u{0007}");
    }
}
