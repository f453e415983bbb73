//! The host's start-up errors. Each carries a stable code, shared with the
//! TypeScript driver (`task-driver/errors.ts`), at the front of its message so
//! the runner can tell them apart from the last line on stderr.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The spec file is missing, unreadable or invalid, or the host cannot be
    /// set up as it asks (port taken, cache dir not writable, ...).
    DriverConfig,
    /// The component file does not have the digest the spec names.
    ComponentDigest,
    /// The component is not a valid component, or does not fit this host
    /// (wrong world, unknown imports, too large for the configured pool).
    ComponentCompile,
    /// The component trapped while an instance was being created.
    ComponentTrap,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::DriverConfig => "LEAN_ERR_DRIVER_CONFIG",
            Code::ComponentDigest => "LEAN_ERR_COMPONENT_DIGEST",
            Code::ComponentCompile => "LEAN_ERR_COMPONENT_COMPILE",
            Code::ComponentTrap => "LEAN_ERR_COMPONENT_TRAP",
        }
    }
}

#[derive(Debug)]
pub struct HostError {
    pub code: Code,
    pub message: String,
}

impl HostError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        HostError { code, message: message.into() }
    }

    pub fn config(message: impl Into<String>) -> Self {
        HostError::new(Code::DriverConfig, message)
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for HostError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_starts_with_the_stable_code() {
        let err = HostError::new(Code::ComponentDigest, "digest mismatch");
        assert_eq!(err.to_string(), "LEAN_ERR_COMPONENT_DIGEST: digest mismatch");
    }
}
