//! Actor identity: a process-unique numeric id and a hierarchical path.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A process-unique actor id. Ids are never reused while the process runs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ActorId(u64);

impl ActorId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ActorId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The raw number behind the id.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where an actor sits in the tree, such as `/user/orders/worker-3`.
///
/// Cloning is cheap (a reference count). Top-level actors live under `/user`, actors the
/// runtime itself spawns under `/system`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorPath(Arc<str>);

impl ActorPath {
    pub(crate) fn user_root() -> Self {
        ActorPath(Arc::from("/user"))
    }

    pub(crate) fn child(&self, name: &str) -> Self {
        let mut s = String::with_capacity(self.0.len() + 1 + name.len());
        s.push_str(&self.0);
        s.push('/');
        s.push_str(name);
        ActorPath(Arc::from(s))
    }

    pub(crate) fn from_str_unchecked(path: &str) -> Self {
        ActorPath(Arc::from(path))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment: the actor's own name.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for ActorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ActorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// Checks an actor name: non-empty, at most 128 bytes, no `/`, no whitespace or control
/// characters, and not starting with `$` (reserved for generated names).
pub(crate) fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("name is empty");
    }
    if name.len() > 128 {
        return Err("name is longer than 128 bytes");
    }
    if name.starts_with('$') {
        return Err("names starting with '$' are reserved for generated names");
    }
    if name
        .chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err("name contains '/', whitespace or a control character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_path_appends_segment() {
        let p = ActorPath::user_root().child("orders").child("worker-3");
        assert_eq!(p.as_str(), "/user/orders/worker-3");
        assert_eq!(p.name(), "worker-3");
    }

    #[test]
    fn invalid_names_are_rejected() {
        for bad in ["", "a/b", "a b", "$x", "\u{7}"] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_name("worker-3").is_ok());
    }
}
