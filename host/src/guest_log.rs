//! What the node's components print (their stderr) goes through `tracing`, a line at a time,
//! so that it lands where the host's own logs do: access denials (`tessera audit: …`) under
//! the `tessera::audit` target at WARN, anything else under `tessera::node`.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The prefix of the gateway's audit lines.
const AUDIT_PREFIX: &str = "tessera audit: ";
/// A line longer than this is logged in pieces: a guest cannot make the host buffer without end.
const MAX_LINE_BYTES: usize = 16 << 10;

/// The stderr every instance gets.
pub struct GuestLog;

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter::default())
    }
}

/// Collects bytes until a newline, then logs the line.
#[derive(Default)]
struct LineWriter {
    pending: Vec<u8>,
}

fn log_line(bytes: &[u8]) {
    let line = String::from_utf8_lossy(bytes);
    let line = line.trim_end();
    if line.is_empty() {
        return;
    }
    if line.starts_with(AUDIT_PREFIX) {
        tracing::warn!(target: "tessera::audit", "{line}");
    } else {
        tracing::warn!(target: "tessera::node", "{line}");
    }
}

impl LineWriter {
    fn take_lines(&mut self) {
        while let Some(end) = self.pending.iter().position(|byte| *byte == b'\n') {
            log_line(&self.pending[..end]);
            self.pending.drain(..=end);
        }
        if self.pending.len() > MAX_LINE_BYTES {
            log_line(&self.pending);
            self.pending.clear();
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(mut self: Pin<&mut Self>, _context: &mut Context<'_>, bytes: &[u8]) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(bytes);
        self.take_lines();
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let rest = std::mem::take(&mut self.pending);
        log_line(&rest);
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        log_line(&self.pending);
    }
}
