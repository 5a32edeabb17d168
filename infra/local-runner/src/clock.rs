//! The functions' clock, owned by the runner: the system clock plus an offset a test moves
//! forward ([`LocalClock::travel`]). The offset lives in a file named to every function through
//! `shared::local_clock::CLOCK_FILE_VAR`; each function reads it when it reads the time, so a
//! travel reaches every execution environment by its next invocation. The Runtime API's
//! deadlines are on this clock too, as Lambda's deadlines are on the function's wall clock.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A clock shared by one stack's functions. Cloning shares it; the file goes with the last clone.
#[derive(Debug, Clone)]
pub struct LocalClock(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    file: PathBuf,
    offset_ms: AtomicI64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl LocalClock {
    /// A clock at the system time, with its file in a fresh directory under the temp dir.
    pub fn new() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "wa-crm-bridge-clock-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("offset-ms");
        write_atomically(&dir, &file, 0)?;
        Ok(Self(Arc::new(Inner {
            dir,
            file,
            offset_ms: AtomicI64::new(0),
        })))
    }

    /// The file functions read (their `LOCAL_CLOCK_FILE`).
    pub fn file(&self) -> &Path {
        &self.0.file
    }

    /// Milliseconds since the epoch on the functions' clock.
    pub fn now_ms(&self) -> i64 {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        system.saturating_add(self.0.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the functions' clock forward by `by`.
    pub fn travel(&self, by: Duration) -> std::io::Result<()> {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let offset = self
            .0
            .offset_ms
            .fetch_add(by, Ordering::SeqCst)
            .saturating_add(by);
        write_atomically(&self.0.dir, &self.0.file, offset)
    }
}

/// Writes beside the file, then renames over it: a reader sees the old offset or the new one.
fn write_atomically(dir: &Path, file: &Path, offset_ms: i64) -> std::io::Result<()> {
    let tmp = dir.join(format!("offset-ms.{:016x}", rand::random::<u64>()));
    std::fs::write(&tmp, offset_ms.to_string())?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn travel_moves_the_clock_and_its_file_and_the_file_goes_with_the_clock() {
        let clock = LocalClock::new().expect("a clock");
        let before = clock.now_ms();
        clock.travel(Duration::from_secs(3_600)).expect("travels");
        clock.travel(Duration::from_secs(60)).expect("travels");
        let moved = clock.now_ms() - before;
        assert!((3_660_000..3_670_000).contains(&moved), "{moved}");
        let written = std::fs::read_to_string(clock.file()).expect("the file");
        assert_eq!(written, "3660000");
        let file = clock.file().to_owned();
        drop(clock);
        assert!(!file.exists());
    }
}
