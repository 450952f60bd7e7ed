//! The harness's error: a message for the user and the exit code class it maps to.

/// What went wrong, by whose fault: it picks the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A check failed (registration, a suite): exit 1.
    Check,
    /// Bad input: cluster definitions, flags, config files: exit 3.
    Input,
    /// The environment could not be built, reached or torn down (tools missing, cluster
    /// errors, timeouts): exit 4.
    Environment,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn check(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Check,
            message: message.into(),
        }
    }
    pub fn input(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Input,
            message: message.into(),
        }
    }
    pub fn env(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Environment,
            message: message.into(),
        }
    }

    /// The process exit code for this error (documented in `hubspoke --help`).
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Check => 1,
            ErrorKind::Input => 3,
            ErrorKind::Environment => 4,
        }
    }
}

impl From<crate::definition::DefinitionErrors> for Error {
    fn from(e: crate::definition::DefinitionErrors) -> Self {
        Error::input(e.to_string().trim_end().to_string())
    }
}

impl From<crate::environment::LoadError> for Error {
    fn from(e: crate::environment::LoadError) -> Self {
        Error::env(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
