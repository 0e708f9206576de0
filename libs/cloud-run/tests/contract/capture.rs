//! Log capture: a `CloudLoggingLayer` writing into a shared buffer, parsed back into JSON lines.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use cloud_run::CloudLoggingLayer;
use serde_json::Value;
use tracing::Subscriber;
use tracing_subscriber::{EnvFilter, Layer as _, fmt::MakeWriter, layer::SubscriberExt as _};

/// Lines written so far, shared between the subscriber and the test.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

pub struct CapturedWriter(Arc<Mutex<Vec<u8>>>);

fn lock(buffer: &Mutex<Vec<u8>>) -> MutexGuard<'_, Vec<u8>> {
    // A test that panicked while logging poisons the lock; the bytes are still fine to read.
    buffer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl io::Write for CapturedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        lock(&self.0).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = CapturedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        CapturedWriter(Arc::clone(&self.0))
    }
}

impl Captured {
    /// A subscriber that writes Cloud Logging lines here, naming `project` in trace fields.
    pub fn subscriber(&self, project: Option<&str>) -> impl Subscriber + Send + Sync + use<> {
        tracing_subscriber::registry().with(CloudLoggingLayer::new(project, self.clone()))
    }

    /// As [`Captured::subscriber`], filtered as `RUST_LOG=filter` would filter it.
    pub fn subscriber_at(
        &self,
        project: Option<&str>,
        filter: &str,
    ) -> impl Subscriber + Send + Sync + use<> {
        tracing_subscriber::registry().with(
            CloudLoggingLayer::new(project, self.clone())
                .with_filter(EnvFilter::try_new(filter).expect("a valid filter")),
        )
    }

    /// Every line, parsed; panics on a line that is not a JSON object.
    pub fn lines(&self) -> Vec<Value> {
        let bytes = lock(&self.0).clone();
        String::from_utf8(bytes)
            .expect("log output is UTF-8")
            .lines()
            .map(|line| {
                let value: Value = serde_json::from_str(line).expect("each line is JSON");
                assert!(value.is_object(), "each line is an object: {line}");
                value
            })
            .collect()
    }

    /// The lines whose event target (`sourceLocation.function`) is `target`.
    pub fn lines_from(&self, target: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|line| line["logging.googleapis.com/sourceLocation"]["function"] == target)
            .collect()
    }

    /// The raw text, for "never contains" checks.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.0)).into_owned()
    }
}

/// The keys of a JSON object, sorted.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}
