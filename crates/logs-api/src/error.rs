//! The one error type of the core and of every backend's `Requester`.

/// A boxed error from a backend library, kept as the `source` for the server log.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a log request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong: `422`, and the message is shown to the client.
    #[error("{0}")]
    InvalidRequest(String),
    /// The backend does not implement this request: `501`, and the message is shown to the
    /// client.
    #[error("{0}")]
    Unsupported(String),
    /// The backend failed: `500` before the first byte, an aborted body after it. The message
    /// and source go to the server log only; the client sees `function log request failed`.
    #[error("{message}")]
    Backend {
        /// What we were doing, e.g. `listing pods`.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// A backend failure with its cause.
    pub fn backend(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A backend failure without an underlying error value.
    pub fn backend_msg(message: impl Into<String>) -> Self {
        Error::Backend {
            message: message.into(),
            source: None,
        }
    }

    /// The message with its whole `source` chain, for the server log.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur = std::error::Error::source(self);
        while let Some(e) = cur {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cur = e.source();
        }
        out
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_lists_every_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::backend("listing pods", io);
        assert_eq!(e.chain(), "listing pods: refused");
        assert_eq!(e.to_string(), "listing pods");
    }
}
