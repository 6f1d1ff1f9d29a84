//! Download progress: bars on a terminal, one quiet line per package otherwise.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Printer;
use crate::store::download::Reporter;
use crate::store::DownloadEvent;

/// Shows the downloads of one sync. `labels[id]` names download `id` with its size.
pub struct Progress {
    printer: Printer,
    labels: Vec<(String, u64)>,
    bars: Option<(MultiProgress, Mutex<Vec<Option<ProgressBar>>>)>,
}

impl Progress {
    pub fn new(printer: Printer, labels: Vec<(String, u64)>) -> Arc<Self> {
        let interactive = !printer.quiet && std::io::stderr().is_terminal();
        let bars = interactive.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            (multi, Mutex::new(vec![None; labels.len()]))
        });
        Arc::new(Self {
            printer,
            labels,
            bars,
        })
    }

    /// The callback the store reports to.
    pub fn reporter(self: &Arc<Self>) -> Reporter {
        let this = self.clone();
        Arc::new(move |event| this.handle(event))
    }

    fn handle(&self, event: DownloadEvent) {
        match event {
            DownloadEvent::Waiting { what } => self.printer.status("Waiting", format!("for {what}")),
            DownloadEvent::Started { id, total } => {
                let Some((multi, bars)) = &self.bars else { return };
                let bar = multi.add(ProgressBar::new(total));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>12.cyan.bold} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .expect("a valid progress template")
                    .progress_chars("=> "),
                );
                bar.set_prefix("Downloading");
                bar.set_message(self.label(id));
                if let Some(slot) = bars.lock().unwrap_or_else(|e| e.into_inner()).get_mut(id) {
                    *slot = Some(bar);
                }
            }
            DownloadEvent::Progress { id, bytes } => {
                if let Some((_, bars)) = &self.bars {
                    if let Some(Some(bar)) = bars.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
                        bar.inc(bytes);
                    }
                }
            }
            DownloadEvent::Finished { id } => {
                let size = self.labels.get(id).map_or(0, |(_, size)| *size);
                let line = format!("{} ({})", self.label(id), human_bytes(size));
                match &self.bars {
                    Some((multi, bars)) => {
                        if let Some(Some(bar)) = bars
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_mut(id)
                            .map(Option::take)
                        {
                            bar.finish_and_clear();
                            multi.remove(&bar);
                        }
                        let _ = multi.println(format!("{:>12} {line}", "Downloaded"));
                    }
                    None => self.printer.status("Downloaded", line),
                }
            }
            DownloadEvent::Cached { .. } => {}
        }
    }

    fn label(&self, id: usize) -> String {
        self.labels
            .get(id)
            .map_or_else(|| format!("download {id}"), |(label, _)| label.clone())
    }

    pub fn finish(&self) {
        if let Some((multi, _)) = &self.bars {
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
