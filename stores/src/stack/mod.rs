//! # Store stacks: stores made of stores
//!
//! A reflector feeds exactly one [`Store`]. To do more with the same list and watch, wrap
//! stores in combinators that are stores themselves, like tower layers:
//!
//! * [`Tee`]: writes go to two stores (nest it for more); reads come from the first;
//! * [`Transform`]: maps each object before storing it (e.g. drop Kubernetes `managedFields`
//!   to save memory);
//! * [`Filter`]: keeps only the objects a predicate accepts; an object that stops matching is
//!   deleted downstream.
//!
//! A stack is one concrete type (`Tee<Transform<Arc<Cache<_>>, F>, Filter<Arc<Indexer<_>>, P>>`),
//! so every call is statically dispatched and inlinable. To pick a stack at run time, box it:
//! `Box<dyn Store<Object = T>>` is a store too. Keep an `Arc` of each store you want to read and
//! put a clone of the `Arc` in the stack (`Arc<S>` is a store).

mod filter;
#[cfg(test)]
mod probe;
mod tee;
mod transform;

pub use filter::Filter;
pub use tee::Tee;
pub use transform::Transform;

use std::sync::Arc;

use informer_core::Store;

/// Builder methods to stack stores: `a.tee(b)`, `s.filtered(p)`, `s.transformed(f)`.
///
/// Implemented for every sized [`Store`]. A stack is one concrete type, statically
/// dispatched; keep an `Arc` of each store you read and put a clone in the stack.
///
/// ```
/// use std::sync::Arc;
/// use informer_core::{KeyFn, ObjectKey, Store, Version};
/// use informer_stores::{Cache, StoreExt, Tee};
///
/// #[derive(Clone)]
/// struct Pod { name: String, phase: &'static str, managed_fields: Vec<String> }
/// let key = KeyFn::new(|p: &Pod| Ok(ObjectKey::new(&p.name)));
///
/// let all = Arc::new(Cache::new(key.clone()));
/// let running = Arc::new(Cache::new(key));
/// let stack = Tee::new(
///     Arc::clone(&all).transformed(|p: Arc<Pod>| Arc::new(Pod { managed_fields: Vec::new(), ..(*p).clone() })),
///     Arc::clone(&running).filtered(|p: &Pod| p.phase == "Running"),
/// );
///
/// let pod = |name: &str, phase| Arc::new(Pod { name: name.into(), phase, managed_fields: vec!["f".into()] });
/// stack.replace(vec![pod("a", "Running"), pod("b", "Pending")], Version::from("1")).unwrap();
/// stack.update(pod("a", "Succeeded")).unwrap();
/// assert_eq!(all.len(), 2);
/// assert!(all.get_by_key("a").unwrap().managed_fields.is_empty());
/// assert!(running.is_empty(), "a stopped running, b never ran");
/// ```
pub trait StoreExt: Store + Sized {
    /// Writes to `self` and `other`; reads from `self`. See [`Tee`].
    fn tee<B: Store<Object = Self::Object>>(self, other: B) -> Tee<Self, B> {
        Tee::new(self, other)
    }

    /// Keeps only the objects `predicate` accepts. See [`Filter`].
    fn filtered<P: Fn(&Self::Object) -> bool + Send + Sync>(self, predicate: P) -> Filter<Self, P> {
        Filter::new(self, predicate)
    }

    /// Maps every object with `transform` before storing it. See [`Transform`].
    fn transformed<F>(self, transform: F) -> Transform<Self, F>
    where
        F: Fn(Arc<Self::Object>) -> Arc<Self::Object> + Send + Sync,
    {
        Transform::new(self, transform)
    }
}

impl<S: Store> StoreExt for S {}

/// Keeps the first error of several, like a `replace` that fails one object but applies the
/// others.
pub(crate) fn first_error<E>(a: Result<(), E>, b: Result<(), E>) -> Result<(), E> {
    a.and(b)
}
