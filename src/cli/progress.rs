//! Download progress: bars on a terminal, one quiet line per package otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Printer;
use crate::escape::untrusted;
use crate::store::download::Reporter;
use crate::store::DownloadEvent;

/// Shows the downloads of one sync, as the store reports them.
pub struct Progress {
    printer: Printer,
    /// Bars are drawn only on a terminal.
    multi: Option<MultiProgress>,
    downloads: Mutex<HashMap<usize, Download>>,
}

struct Download {
    label: String,
    total: u64,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(printer: Printer) -> Arc<Self> {
        let interactive = !printer.quiet && std::io::stderr().is_terminal();
        let multi =
            interactive.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Arc::new(Self {
            printer,
            multi,
            downloads: Mutex::default(),
        })
    }

    /// The callback the store reports to.
    pub fn reporter(self: &Arc<Self>) -> Reporter {
        let this = self.clone();
        Arc::new(move |event| this.handle(event))
    }

    fn handle(&self, event: DownloadEvent) {
        let mut downloads = self.downloads.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            DownloadEvent::Waiting { what } => self.printer.status("Waiting", format!("for {what}")),
            DownloadEvent::Started { id, label, total } => {
                // The label names a package from the lock or an index: bounded and escaped once.
                let label = untrusted(&label).to_string();
                let bar = self.multi.as_ref().map(|multi| {
                    let bar = multi.add(ProgressBar::new(total));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix:>12.cyan.bold} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                        )
                        .expect("a valid progress template")
                        .progress_chars("=> "),
                    );
                    bar.set_prefix("Downloading");
                    bar.set_message(label.clone());
                    bar
                });
                downloads.insert(id, Download { label, total, bar });
            }
            DownloadEvent::Progress { id, bytes } => {
                if let Some(bar) = downloads.get(&id).and_then(|d| d.bar.as_ref()) {
                    bar.inc(bytes);
                }
            }
            DownloadEvent::Finished { id } => {
                let Some(download) = downloads.remove(&id) else {
                    return;
                };
                let line = format!("{} ({})", download.label, human_bytes(download.total));
                match (&self.multi, download.bar) {
                    (Some(multi), Some(bar)) => {
                        bar.finish_and_clear();
                        multi.remove(&bar);
                        let _ = multi.println(format!("{:>12} {line}", "Downloaded"));
                    }
                    _ => self.printer.status("Downloaded", line),
                }
            }
            DownloadEvent::Cached { .. } => {}
        }
    }

    pub fn finish(&self) {
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

/// `1.2 MiB`, `512 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
