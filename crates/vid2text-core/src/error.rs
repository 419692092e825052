use std::path::PathBuf;

/// Errors of the core crate. Each names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a file (the cause is part of the message, not a separate source, so
    /// that a report does not repeat it).
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{0}")]
    Config(String),
    /// The output directory is in use by another run.
    #[error("{0}")]
    Locked(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }

    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }

    /// True when the error is a full disk, an exceeded quota or a read-only file system: the
    /// run cannot go on.
    pub fn is_fatal_io(&self) -> bool {
        use std::io::ErrorKind::{QuotaExceeded, ReadOnlyFilesystem, StorageFull};
        match self {
            Error::Io { err, .. } => {
                matches!(err.kind(), StorageFull | QuotaExceeded | ReadOnlyFilesystem)
            }
            _ => false,
        }
    }
}

/// An error and its sources on one line, `outer: inner: innermost`: what failure records and
/// stderr show. A source whose message the outer one already contains is not repeated.
pub fn report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !msg.is_empty() && !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot load model.bin")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn reports_carry_their_sources_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(report(&Outer(io)), "cannot load model.bin: no such file");
        let e = Error::io("/x/y", std::io::Error::other("disk on fire"));
        assert_eq!(report(&e), "/x/y: disk on fire");
        let full = Error::io("/x", std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(full.is_fatal_io());
        assert!(!e.is_fatal_io());
    }
}
