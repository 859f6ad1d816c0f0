//! Actor identity: a process-unique numeric id and a hierarchical path.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroU64;
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
/// Cloning is cheap (a reference count). Top-level actors live under `/user`. The path of
/// an anonymous actor (`/user/$42`) is kept as its parent's path plus its id, so spawning
/// one allocates no string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorPath {
    base: Arc<str>,
    anonymous: Option<NonZeroU64>,
}

impl ActorPath {
    pub(crate) fn user_root() -> Self {
        ActorPath {
            base: Arc::from("/user"),
            anonymous: None,
        }
    }

    pub(crate) fn from_str_unchecked(path: &str) -> Self {
        ActorPath {
            base: Arc::from(path),
            anonymous: None,
        }
    }

    fn full(&self) -> Cow<'_, str> {
        match self.anonymous {
            None => Cow::Borrowed(&self.base),
            Some(id) => Cow::Owned(format!("{}/${id}", self.base)),
        }
    }

    pub(crate) fn child(&self, name: &str) -> Self {
        let parent = self.full();
        let mut s = String::with_capacity(parent.len() + 1 + name.len());
        s.push_str(&parent);
        s.push('/');
        s.push_str(name);
        ActorPath {
            base: Arc::from(s),
            anonymous: None,
        }
    }

    pub(crate) fn anonymous_child(&self, id: ActorId) -> Self {
        let id = NonZeroU64::new(id.as_u64()).unwrap_or(NonZeroU64::MIN);
        match self.anonymous {
            None => ActorPath {
                base: Arc::clone(&self.base),
                anonymous: Some(id),
            },
            Some(_) => ActorPath {
                base: Arc::from(&*self.full()),
                anonymous: Some(id),
            },
        }
    }

    /// True for a generated (`$<id>`) name.
    pub fn is_anonymous(&self) -> bool {
        self.anonymous.is_some()
    }

    /// The last segment: the actor's own name.
    pub fn name(&self) -> Cow<'_, str> {
        match self.anonymous {
            None => Cow::Borrowed(self.base.rsplit('/').next().unwrap_or(&self.base)),
            Some(id) => Cow::Owned(format!("${id}")),
        }
    }
}

impl fmt::Display for ActorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)?;
        if let Some(id) = self.anonymous {
            write!(f, "/${id}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ActorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.full(), f)
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
        assert_eq!(p.to_string(), "/user/orders/worker-3");
        assert_eq!(p.name(), "worker-3");
    }

    #[test]
    fn anonymous_paths_print_their_id() {
        let id = ActorId::next();
        let p = ActorPath::user_root().anonymous_child(id);
        assert_eq!(p.to_string(), format!("/user/${}", id.as_u64()));
        assert!(p.is_anonymous());
        let nested = p.anonymous_child(id).child("x");
        assert_eq!(
            nested.to_string(),
            format!("/user/${0}/${0}/x", id.as_u64())
        );
    }

    #[test]
    fn invalid_names_are_rejected() {
        for bad in ["", "a/b", "a b", "$x", "\u{7}"] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_name("worker-3").is_ok());
    }
}
