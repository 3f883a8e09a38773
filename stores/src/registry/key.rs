//! [`SourceKey`]: what makes two informers of an [`Informers`](super::Informers) registry "the
//! same one".

use std::fmt;

use informer_core::ListerWatcher;

/// The identity of an informer in an [`Informers`](super::Informers) registry: a source and a
/// selector. Consumers that ask for equal keys share one informer (one reflector, one list,
/// one watch).
///
/// * [`SourceKey::of`] takes the source's [`ListerWatcher::describe`] (e.g.
///   `kube /api/v1/pods labels=app=web`, `etcd 127.0.0.1:2379 /app/`) and an empty selector:
///   the right key when the description says everything that makes the collection what it is.
/// * [`SourceKey::new`] / [`with_selector`](SourceKey::with_selector) give the key
///   explicitly: two sources whose descriptions are equal (two in-memory sources with the
///   default name) but whose collections differ need different keys, and a selector the
///   backend applies where `describe` does not show it belongs in the selector.
///
/// Keys order by source, then selector; they display as `source` or `source [selector]`.
///
/// ```
/// use informer_memory::{MemoryConfig, MemorySource};
/// use informer_stores::SourceKey;
///
/// let source = MemorySource::<u32>::with_config(MemoryConfig::default().with_name("pods"));
/// assert_eq!(SourceKey::of(&source), SourceKey::new("pods", ""));
/// let web = SourceKey::of(&source).with_selector("app=web");
/// assert_eq!((web.source(), web.selector()), ("pods", "app=web"));
/// assert_eq!(web.to_string(), "pods [app=web]");
/// assert_ne!(web, SourceKey::of(&source));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey {
    source: String,
    selector: String,
}

impl SourceKey {
    /// A key from a source identity and a selector (`""` for none).
    ///
    /// ```
    /// let key = informer_stores::SourceKey::new("etcd 127.0.0.1:2379 /app/", "");
    /// assert_eq!(key.to_string(), "etcd 127.0.0.1:2379 /app/");
    /// ```
    pub fn new(source: impl Into<String>, selector: impl Into<String>) -> Self {
        Self { source: source.into(), selector: selector.into() }
    }

    /// The default key of `source`: its [`describe`](ListerWatcher::describe)tion, no selector.
    ///
    /// ```
    /// use informer_memory::MemorySource;
    /// let key = informer_stores::SourceKey::of(&MemorySource::<u32>::new());
    /// assert_eq!((key.source(), key.selector()), ("memory", ""));
    /// ```
    pub fn of<L: ListerWatcher>(source: &L) -> Self {
        Self::new(source.describe(), "")
    }

    /// The same source with `selector` (builder style).
    ///
    /// ```
    /// let key = informer_stores::SourceKey::new("pods", "").with_selector("node=n1");
    /// assert_eq!(key.selector(), "node=n1");
    /// ```
    #[must_use]
    pub fn with_selector(mut self, selector: impl Into<String>) -> Self {
        self.selector = selector.into();
        self
    }

    /// The source identity.
    ///
    /// ```
    /// assert_eq!(informer_stores::SourceKey::new("pods", "a=b").source(), "pods");
    /// ```
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The selector (`""` for none).
    ///
    /// ```
    /// assert_eq!(informer_stores::SourceKey::new("pods", "a=b").selector(), "a=b");
    /// ```
    pub fn selector(&self) -> &str {
        &self.selector
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.selector.is_empty() {
            f.write_str(&self.source)
        } else {
            write!(f, "{} [{}]", self.source, self.selector)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_source_or_selector_and_order_by_source_first() {
        let a = SourceKey::new("a", "z");
        let b = SourceKey::new("b", "");
        assert!(a < b);
        assert_ne!(SourceKey::new("a", ""), SourceKey::new("a", "x"));
        assert_eq!(SourceKey::new("a", "").to_string(), "a");
        assert_eq!(a.to_string(), "a [z]");
    }
}
