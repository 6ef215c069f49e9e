//! The error type every xtask command returns: each variant names the file,
//! field or command it is about, so a failure reads as a diagnosis.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can stop an xtask command.
#[derive(Debug)]
pub enum Error {
    /// Bad command line.
    Usage(String),
    /// An I/O operation on a file or process failed.
    Io {
        /// What was being done (names the file or program).
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A child command ran but exited unsuccessfully.
    Command {
        /// The command line, for copy-and-paste.
        cmd: String,
        /// How it ended.
        status: String,
    },
    /// The produced `Image` has a bad arm64 header field.
    ImageHeader {
        /// The file checked.
        path: PathBuf,
        /// The header field (`magic`, `image_size`, ...).
        field: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// `image --board` could not package or verify an output.
    Package {
        /// The board.
        board: String,
        /// The file concerned.
        what: String,
        /// What was wrong (names the field and offset).
        detail: String,
    },
    /// A required tool is missing and could not be installed.
    Tool(String),
    /// A QEMU run did not produce an acceptable result.
    Run(String),
    /// Some stages or scenarios failed (already reported in detail).
    Failed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "usage: {m}"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Command { cmd, status } => write!(f, "`{cmd}` failed: {status}"),
            Error::ImageHeader {
                path,
                field,
                detail,
            } => write!(
                f,
                "{}: bad arm64 Image header field `{field}`: {detail}",
                path.display()
            ),
            Error::Package {
                board,
                what,
                detail,
            } => write!(f, "board {board}: {what}: {detail}"),
            Error::Tool(m) | Error::Run(m) | Error::Failed(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Shorthand for xtask results.
pub type Result<T> = std::result::Result<T, Error>;

/// Wraps an I/O error with what was being done.
pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
