//! Ordered stdout lines written by a background thread.
//!
//! Event lines are produced inside store calls, on the reflector's task. Writing to a pipe can
//! block when the reader is slow, and a store call must not block the async runtime, so
//! lines go through an unbounded channel to one writer thread. Every stdout line of the
//! command (events, query results, a `--once` snapshot) goes through the same [`Output`], so
//! lines never interleave.

use std::io::Write;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// A cloneable sender of stdout lines; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Output {
    tx: mpsc::Sender<String>,
}

/// Owns the writer thread; [`OutputWriter::finish`] flushes everything sent before.
#[derive(Debug)]
pub struct OutputWriter {
    output: Option<Output>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl OutputWriter {
    /// Starts the writer thread on stdout.
    pub fn stdout() -> Self {
        Self::new(std::io::stdout())
    }

    /// Starts the writer thread on any writer (tests).
    pub fn new(writer: impl Write + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel::<String>();
        let thread = std::thread::Builder::new()
            .name("informer-output".to_string())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(writer);
                while let Ok(line) = rx.recv() {
                    out.write_all(line.as_bytes())?;
                    out.write_all(b"\n")?;
                    // Flush once the burst is over, so readers see lines promptly.
                    while let Ok(line) = rx.try_recv() {
                        out.write_all(line.as_bytes())?;
                        out.write_all(b"\n")?;
                    }
                    out.flush()?;
                }
                out.flush()
            })
            .ok();
        Self { output: Some(Output { tx }), thread }
    }

    /// A sender for lines.
    pub fn output(&self) -> Output {
        self.output.clone().unwrap_or_else(|| Output { tx: mpsc::channel().0 })
    }

    /// Waits until every line sent by every [`Output`] (all of which must be dropped by then)
    /// is written and flushed.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.output = None;
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| Err(std::io::Error::other("output thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Output {
    /// Queues one line (without its newline). Lines sent after the writer stopped are dropped.
    pub fn line(&self, line: String) {
        let _ = self.tx.send(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_from_clones_arrive_in_send_order_after_finish() {
        let buf = Shared::default();
        let writer = OutputWriter::new(buf.clone());
        let a = writer.output();
        let b = a.clone();
        a.line("one".into());
        b.line("two".into());
        drop((a, b));
        writer.finish().unwrap();
        assert_eq!(String::from_utf8(buf.0.lock().unwrap().clone()).unwrap(), "one\ntwo\n");
    }
}
