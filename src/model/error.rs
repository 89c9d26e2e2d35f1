//! Validation findings: hard errors and warnings, each with a field path.
use std::fmt;

/// A spec error: the field path and what is wrong, e.g. `spec.nodePools[1].replicas: must be at least 1`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ValidationError {
    /// Field path, e.g. `spec.config.listeners`.
    pub path: String,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

/// Every error found in a spec (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    /// The errors, in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &ValidationError> {
        self.0.iter()
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&messages.join("; "))
    }
}

/// An unsafe but legal setting: reported in a `Warning` condition, the change is still applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Field path the warning is about.
    pub path: String,
    /// Why the setting is unsafe.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Collects errors and warnings while a spec (of any kind) is walked.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub errors: Vec<ValidationError>,
    pub warnings: Vec<Warning>,
}

impl Findings {
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError { path: path.into(), message: message.into() });
    }

    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning { path: path.into(), message: message.into() });
    }

    /// `value` when no error was found, else every error (warnings are not kept).
    pub fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.errors.is_empty() { Ok(value) } else { Err(ValidationErrors(self.errors)) }
    }
}
