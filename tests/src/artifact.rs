//! The deploy's Lambda artifacts checked as AWS will run them (`make build-check`): each
//! function's `bootstrap` exists, is a 64-bit little-endian ELF for aarch64 (the template's
//! `Architectures: [arm64]`), fits the size budget, and is the very file `make build` produced.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest bootstrap accepted: 8 MB (decimal, the stricter reading of the budget).
pub const MAX_BOOTSTRAP_BYTES: u64 = 8_000_000;

/// `e_machine` of an AArch64 ELF (the ELF specification's `EM_AARCH64`).
pub const EM_AARCH64: u16 = 0xB7;

/// Bytes of the ELF header read: up to and including `e_machine` (offset 18, two bytes).
const HEADER_BYTES: usize = 20;

/// Why an artifact is not deployable; each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{path}: missing ({source})")]
    Missing {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot be read: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a 64-bit little-endian ELF executable")]
    NotElf64 { path: PathBuf },
    #[error("{path}: built for ELF machine {machine:#06x} ({}), Lambda arm64 runs aarch64 ({EM_AARCH64:#06x})", machine_name(*.machine))]
    NotAarch64 { path: PathBuf, machine: u16 },
    #[error("{path}: {bytes} bytes ({:.2} MiB), over the {limit}-byte budget by {}", mib(*.bytes), .bytes - .limit)]
    TooLarge {
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
    #[error(
        "{path}: differs from {reference}, so the deploy would not ship what `make build` built"
    )]
    Differs { path: PathBuf, reference: PathBuf },
}

/// A bootstrap that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub bytes: u64,
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes ({:.2} MiB), aarch64",
            self.bytes,
            mib(self.bytes)
        )
    }
}

/// Checks `path` as a Lambda arm64 bootstrap no larger than `limit` bytes.
pub fn check_bootstrap(path: &Path, limit: u64) -> Result<Checked, ArtifactError> {
    let meta = std::fs::metadata(path).map_err(|source| ArtifactError::Missing {
        path: path.to_owned(),
        source,
    })?;
    let unreadable = |source| ArtifactError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut header = [0u8; HEADER_BYTES];
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let read = read_up_to(&mut file, &mut header).map_err(unreadable)?;
    // e_ident: magic, EI_CLASS = 2 (64-bit), EI_DATA = 1 (little-endian); aarch64 Linux is both.
    if read < HEADER_BYTES || header[..4] != *b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Err(ArtifactError::NotElf64 {
            path: path.to_owned(),
        });
    }
    let machine = u16::from_le_bytes([header[18], header[19]]);
    if machine != EM_AARCH64 {
        return Err(ArtifactError::NotAarch64 {
            path: path.to_owned(),
            machine,
        });
    }
    if meta.len() > limit {
        return Err(ArtifactError::TooLarge {
            path: path.to_owned(),
            bytes: meta.len(),
            limit,
        });
    }
    Ok(Checked { bytes: meta.len() })
}

/// Fails unless `path` has exactly the bytes of `reference`.
pub fn check_same_file(path: &Path, reference: &Path) -> Result<(), ArtifactError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| ArtifactError::Missing {
            path: p.to_owned(),
            source,
        })
    };
    if read(path)? == read(reference)? {
        Ok(())
    } else {
        Err(ArtifactError::Differs {
            path: path.to_owned(),
            reference: reference.to_owned(),
        })
    }
}

/// Bytes in mebibytes, for people.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn machine_name(machine: u16) -> &'static str {
    match machine {
        0x3E => "x86-64",
        0x28 => "32-bit ARM",
        0x03 => "x86",
        EM_AARCH64 => "aarch64",
        _ => "another machine",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temp dir, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("artifact-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        /// A file named `name` starting with an ELF header for `class`/`machine`, `len` long.
        fn elf(&self, name: &str, class: u8, machine: u16, len: u64) -> PathBuf {
            let mut header = vec![0u8; 64];
            header[..4].copy_from_slice(b"\x7fELF");
            header[4] = class;
            header[5] = 1;
            header[6] = 1;
            header[16] = 2; // ET_EXEC
            header[18..20].copy_from_slice(&machine.to_le_bytes());
            let path = self.0.join(name);
            std::fs::write(&path, &header).unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(len)
                .unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn accepts_an_aarch64_elf_at_the_limit() {
        let dir = Scratch::new();
        let path = dir.elf("bootstrap", 2, EM_AARCH64, MAX_BOOTSTRAP_BYTES);
        let checked = check_bootstrap(&path, MAX_BOOTSTRAP_BYTES).unwrap();
        assert_eq!(checked.bytes, MAX_BOOTSTRAP_BYTES);
    }

    #[test]
    fn rejects_a_missing_bootstrap() {
        let dir = Scratch::new();
        let err = check_bootstrap(&dir.0.join("bootstrap"), MAX_BOOTSTRAP_BYTES).unwrap_err();
        assert!(matches!(err, ArtifactError::Missing { .. }), "{err}");
    }

    #[test]
    fn rejects_an_x86_64_binary_naming_its_machine() {
        let dir = Scratch::new();
        let path = dir.elf("bootstrap", 2, 0x3E, 4096);
        let err = check_bootstrap(&path, MAX_BOOTSTRAP_BYTES).unwrap_err();
        assert!(
            matches!(err, ArtifactError::NotAarch64 { machine: 0x3E, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("x86-64"), "{err}");
    }

    #[test]
    fn rejects_a_32_bit_elf_even_with_the_aarch64_machine() {
        let dir = Scratch::new();
        let path = dir.elf("bootstrap", 1, EM_AARCH64, 4096);
        let err = check_bootstrap(&path, MAX_BOOTSTRAP_BYTES).unwrap_err();
        assert!(matches!(err, ArtifactError::NotElf64 { .. }), "{err}");
    }

    #[test]
    fn rejects_a_file_that_is_not_elf() {
        let dir = Scratch::new();
        let path = dir.0.join("bootstrap");
        std::fs::write(&path, "#!/bin/sh\nexec ./webhook\n").unwrap();
        let err = check_bootstrap(&path, MAX_BOOTSTRAP_BYTES).unwrap_err();
        assert!(matches!(err, ArtifactError::NotElf64 { .. }), "{err}");
    }

    #[test]
    fn rejects_a_file_shorter_than_an_elf_header() {
        let dir = Scratch::new();
        let path = dir.0.join("bootstrap");
        std::fs::write(&path, b"\x7fELF\x02\x01").unwrap();
        let err = check_bootstrap(&path, MAX_BOOTSTRAP_BYTES).unwrap_err();
        assert!(matches!(err, ArtifactError::NotElf64 { .. }), "{err}");
    }

    #[test]
    fn rejects_a_bootstrap_one_byte_over_the_limit_saying_by_how_much() {
        let dir = Scratch::new();
        let path = dir.elf("bootstrap", 2, EM_AARCH64, MAX_BOOTSTRAP_BYTES + 1);
        let err = check_bootstrap(&path, MAX_BOOTSTRAP_BYTES).unwrap_err();
        assert!(
            matches!(err, ArtifactError::TooLarge { bytes, .. } if bytes == MAX_BOOTSTRAP_BYTES + 1),
            "{err}"
        );
        assert!(err.to_string().contains("by 1"), "{err}");
    }

    #[test]
    fn same_file_passes_and_a_different_one_fails() {
        let dir = Scratch::new();
        let built = dir.elf("built", 2, EM_AARCH64, 4096);
        let copy = dir.0.join("copy");
        std::fs::copy(&built, &copy).unwrap();
        check_same_file(&copy, &built).unwrap();

        let other = dir.elf("other", 2, EM_AARCH64, 4097);
        let err = check_same_file(&other, &built).unwrap_err();
        assert!(matches!(err, ArtifactError::Differs { .. }), "{err}");
    }

    #[test]
    fn comparing_with_a_missing_reference_says_it_is_missing() {
        let dir = Scratch::new();
        let built = dir.elf("built", 2, EM_AARCH64, 4096);
        let err = check_same_file(&built, &dir.0.join("nowhere")).unwrap_err();
        assert!(matches!(err, ArtifactError::Missing { .. }), "{err}");
    }
}
