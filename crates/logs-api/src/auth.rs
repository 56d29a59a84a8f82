//! Optional basic auth, as OpenFaaS providers do it: credentials read from
//! `<secret_mount_path>/basic-auth-user` and `basic-auth-password`, compared in constant time.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use subtle::ConstantTimeEq;

/// The one user allowed in when basic auth is on.
#[derive(Clone)]
pub struct BasicAuth {
    user: Vec<u8>,
    password: Vec<u8>,
}

// Never print the credentials, not even in debug logs.
impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicAuth { .. }")
    }
}

/// Why the credential files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A credential file could not be read.
    #[error("reading basic auth secret {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A credential file is empty (after trimming whitespace).
    #[error("basic auth secret {path} is empty")]
    Empty {
        /// The file.
        path: String,
    },
}

impl BasicAuth {
    /// Credentials given directly.
    pub fn new(user: &str, password: &str) -> Self {
        BasicAuth {
            user: user.as_bytes().to_vec(),
            password: password.as_bytes().to_vec(),
        }
    }

    /// Reads `basic-auth-user` and `basic-auth-password` from `dir`, trimming surrounding
    /// whitespace as the OpenFaaS providers do.
    pub fn from_dir(dir: &Path) -> Result<Self, AuthError> {
        let read = |file: &str| -> Result<String, AuthError> {
            let path = dir.join(file);
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|source| AuthError::Read {
                path: shown.clone(),
                source,
            })?;
            let text = text.trim().to_owned();
            if text.is_empty() {
                return Err(AuthError::Empty { path: shown });
            }
            Ok(text)
        };
        Ok(BasicAuth::new(
            &read("basic-auth-user")?,
            &read("basic-auth-password")?,
        ))
    }

    /// Whether an `Authorization` header carries these credentials.
    pub fn allows(&self, header: Option<&http::HeaderValue>) -> bool {
        let Some(value) = header.map(http::HeaderValue::as_bytes) else {
            return false;
        };
        let Some(encoded) = value.strip_prefix(b"Basic ") else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|b| *b == b':') else {
            return false;
        };
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        // Both comparisons always run; `&` (not `&&`) keeps the time independent of which failed.
        let ok = user.ct_eq(&self.user) & password.ct_eq(&self.password);
        ok.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> http::HeaderValue {
        http::HeaderValue::from_str(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn accepts_only_the_exact_credentials() {
        let auth = BasicAuth::new("admin", "s3cr:et");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert!(auth.allows(Some(&header(&format!("Basic {}", b64("admin:s3cr:et"))))));
        for bad in [
            "admin:wrong",
            "admin:s3cr:et2",
            "Admin:s3cr:et",
            "admin",
            ":",
            "admin:",
        ] {
            assert!(
                !auth.allows(Some(&header(&format!("Basic {}", b64(bad))))),
                "{bad}"
            );
        }
        assert!(!auth.allows(None));
        assert!(!auth.allows(Some(&header("Bearer abc"))));
        assert!(!auth.allows(Some(&header("Basic !!!not-base64"))));
    }

    #[test]
    fn reads_trimmed_files_and_reports_missing_or_empty_ones() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let err = BasicAuth::from_dir(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("basic-auth-user"), "{err}");
        std::fs::write(dir.path().join("basic-auth-user"), "admin\n")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("basic-auth-password"), "  \n")
            .unwrap_or_else(|e| panic!("{e}"));
        let err = BasicAuth::from_dir(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("is empty"), "{err}");
        std::fs::write(dir.path().join("basic-auth-password"), "pw\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let auth = BasicAuth::from_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format!("{auth:?}"), "BasicAuth { .. }");
        let b64 = base64::engine::general_purpose::STANDARD.encode("admin:pw");
        assert!(auth.allows(Some(&header(&format!("Basic {b64}")))));
    }
}
