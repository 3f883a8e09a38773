//! Index functions ([`IndexFn`]), the values they return ([`IndexValues`]) and named sets of
//! them ([`Indexers`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use smallvec::SmallVec;

/// The index values of one object under one index function: zero or more strings.
///
/// Values may borrow from the object (`&'a str`), so computing them for an update allocates
/// nothing; only a value that enters the index for the first time is copied. Up to two values
/// live inline, without a heap allocation.
///
/// ```
/// use informer_stores::IndexValues;
/// let mut values = IndexValues::one("node-1");
/// values.push(String::from("node-2"));
/// assert_eq!(values.iter().collect::<Vec<_>>(), ["node-1", "node-2"]);
/// assert!(IndexValues::from(None::<&str>).is_empty());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IndexValues<'a>(SmallVec<[Cow<'a, str>; 2]>);

impl<'a> IndexValues<'a> {
    /// No value: the object is not in this index.
    pub fn none() -> Self {
        Self(SmallVec::new())
    }

    /// Exactly one value.
    pub fn one(value: impl Into<Cow<'a, str>>) -> Self {
        let mut values = SmallVec::new();
        values.push(value.into());
        Self(values)
    }

    /// Adds a value.
    pub fn push(&mut self, value: impl Into<Cow<'a, str>>) {
        self.0.push(value.into());
    }

    /// The number of values (duplicates included).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values, in the order the index function returned them.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|v| &**v)
    }

    /// Whether `value` is one of the values.
    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|v| v == value)
    }
}

impl fmt::Debug for IndexValues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> From<&'a str> for IndexValues<'a> {
    fn from(value: &'a str) -> Self {
        Self::one(value)
    }
}

impl From<String> for IndexValues<'_> {
    fn from(value: String) -> Self {
        Self::one(value)
    }
}

impl<'a, V: Into<Cow<'a, str>>> From<Option<V>> for IndexValues<'a> {
    fn from(value: Option<V>) -> Self {
        value.map_or_else(Self::none, Self::one)
    }
}

impl<'a, V: Into<Cow<'a, str>>> From<Vec<V>> for IndexValues<'a> {
    fn from(values: Vec<V>) -> Self {
        values.into_iter().collect()
    }
}

impl<'a, V: Into<Cow<'a, str>>> FromIterator<V> for IndexValues<'a> {
    fn from_iter<I: IntoIterator<Item = V>>(iter: I) -> Self {
        Self(iter.into_iter().map(Into::into).collect())
    }
}

type IndexClosure<T> = dyn for<'a> Fn(&'a T) -> IndexValues<'a> + Send + Sync;

/// An index function: the values under which an object is found in one index (client-go's
/// `IndexFunc`). Cheap to clone.
///
/// Index functions cannot fail: an object they cannot index simply has no value (it is then
/// absent from that index, but still stored). They must be pure: the indexer calls them again
/// on the stored object to find where to remove it from.
///
/// ```
/// use informer_stores::{IndexFn, IndexValues};
/// struct Pod { node: String, labels: Vec<String> }
/// let by_node = IndexFn::single(|p: &Pod| p.node.as_str());
/// let by_label = IndexFn::new(|p: &Pod| p.labels.iter().map(String::as_str).collect());
/// let pod = Pod { node: "n1".into(), labels: vec!["app=web".into(), "tier=fe".into()] };
/// assert_eq!(by_node.values(&pod).iter().collect::<Vec<_>>(), ["n1"]);
/// assert_eq!(by_label.values(&pod).len(), 2);
/// ```
pub struct IndexFn<T>(Arc<IndexClosure<T>>);

impl<T> IndexFn<T> {
    /// An index function returning any number of values, borrowed or owned.
    pub fn new<F>(f: F) -> Self
    where
        F: for<'a> Fn(&'a T) -> IndexValues<'a> + Send + Sync + 'static,
    {
        Self(Arc::new(f))
    }

    /// An index function returning exactly one value borrowed from the object.
    pub fn single<F>(f: F) -> Self
    where
        F: for<'a> Fn(&'a T) -> &'a str + Send + Sync + 'static,
    {
        Self::new(move |o| IndexValues::one(f(o)))
    }

    /// An index function returning at most one value borrowed from the object (objects for
    /// which it returns `None` are not in the index).
    pub fn optional<F>(f: F) -> Self
    where
        F: for<'a> Fn(&'a T) -> Option<&'a str> + Send + Sync + 'static,
    {
        Self::new(move |o| IndexValues::from(f(o)))
    }

    /// An index function returning owned values (e.g. computed strings).
    pub fn owned<F, I>(f: F) -> Self
    where
        F: Fn(&T) -> I + Send + Sync + 'static,
        I: IntoIterator<Item = String>,
    {
        Self::new(move |o| f(o).into_iter().collect())
    }

    /// The values of `object` under this function.
    #[inline]
    pub fn values<'a>(&self, object: &'a T) -> IndexValues<'a> {
        (self.0)(object)
    }
}

impl<T> Clone for IndexFn<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> fmt::Debug for IndexFn<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IndexFn")
    }
}

/// Named index functions (client-go's `Indexers`), built with [`with`](Self::with).
///
/// ```
/// use informer_stores::{IndexFn, Indexers};
/// struct Pod { node: String, namespace: String }
/// let indexers = Indexers::new()
///     .with("node", IndexFn::single(|p: &Pod| p.node.as_str()))
///     .with("namespace", IndexFn::single(|p: &Pod| p.namespace.as_str()));
/// assert_eq!(indexers.names().collect::<Vec<_>>(), ["namespace", "node"]);
/// ```
#[must_use]
pub struct Indexers<T>(pub(crate) BTreeMap<String, IndexFn<T>>);

impl<T> Indexers<T> {
    /// No index function.
    pub fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// Adds (or, for a name already present, replaces) the index function `name`.
    pub fn with(mut self, name: impl Into<String>, index_fn: IndexFn<T>) -> Self {
        self.0.insert(name.into(), index_fn);
        self
    }

    /// The names, in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The number of index functions.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no index function.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> Default for Indexers<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Indexers<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> fmt::Debug for Indexers<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

impl<T, N: Into<String>> FromIterator<(N, IndexFn<T>)> for Indexers<T> {
    fn from_iter<I: IntoIterator<Item = (N, IndexFn<T>)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(n, f)| (n.into(), f)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pod {
        node: String,
        owner: Option<String>,
    }

    fn pod(node: &str, owner: Option<&str>) -> Pod {
        Pod { node: node.into(), owner: owner.map(Into::into) }
    }

    #[test]
    fn single_returns_exactly_one_value() {
        let f = IndexFn::single(|p: &Pod| p.node.as_str());
        assert_eq!(f.values(&pod("n1", None)), IndexValues::one("n1"));
    }

    #[test]
    fn optional_returns_no_value_for_none() {
        let f = IndexFn::optional(|p: &Pod| p.owner.as_deref());
        assert!(f.values(&pod("n1", None)).is_empty());
        assert_eq!(f.values(&pod("n1", Some("rs-1"))).iter().collect::<Vec<_>>(), ["rs-1"]);
    }

    #[test]
    fn owned_collects_computed_values() {
        let f = IndexFn::owned(|p: &Pod| vec![format!("node:{}", p.node), "all".to_string()]);
        assert_eq!(f.values(&pod("n1", None)).iter().collect::<Vec<_>>(), ["node:n1", "all"]);
    }

    #[test]
    fn borrowed_and_owned_values_compare_by_content() {
        assert_eq!(IndexValues::one("a"), IndexValues::one(String::from("a")));
        assert_ne!(IndexValues::one("a"), IndexValues::from(vec!["a", "b"]));
        assert!(IndexValues::from(vec!["a", "b"]).contains("b"));
    }

    #[test]
    fn with_replaces_a_function_of_the_same_name() {
        let indexers = Indexers::new()
            .with("node", IndexFn::single(|p: &Pod| p.node.as_str()))
            .with("node", IndexFn::optional(|p: &Pod| p.owner.as_deref()));
        assert_eq!(indexers.len(), 1);
        assert!(indexers.0["node"].values(&pod("n1", None)).is_empty());
    }
}
