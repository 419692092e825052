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

    /// True when the error is a full disk or a read-only file system: the run cannot go on.
    pub fn is_fatal_io(&self) -> bool {
        match self {
            Error::Io { err: source, .. } => {
                matches!(source.raw_os_error(), Some(28) | Some(30) | Some(122))
            }
            _ => false,
        }
    }
}
