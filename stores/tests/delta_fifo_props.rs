//! Property tests: random operation sequences on a [`DeltaFifo`] (with a known-objects store
//! that the consumer keeps up to date, as an informer does) against a simple model.
//!
//! Checked after every step: the key and the exact deltas of every pop (kinds, objects,
//! whether a deletion's final state is known, and its last known state), the queue length,
//! and `has_synced`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use informer_core::{KeyFn, ObjectKey, Store, StoreError, Version};
use informer_stores::{Delta, DeltaFifo, DeltaFifoOptions, Popped};
use parking_lot::Mutex;
use proptest::prelude::*;

/// Objects are `"key=value"`.
fn key_of(s: &str) -> &str {
    s.split('=').next().unwrap_or_default()
}

fn key_fn() -> KeyFn<String> {
    KeyFn::new(|s: &String| Ok(ObjectKey::new(key_of(s))))
}

/// The consumer's store, also the queue's known objects.
#[derive(Default)]
struct Known(Mutex<HashMap<ObjectKey, Arc<String>>>);

impl Store for Known {
    type Object = String;
    fn add(&self, o: Arc<String>) -> Result<(), StoreError> {
        self.0.lock().insert(ObjectKey::new(key_of(&o)), o);
        Ok(())
    }
    fn update(&self, o: Arc<String>) -> Result<(), StoreError> {
        self.add(o)
    }
    fn delete(&self, o: Arc<String>) -> Result<(), StoreError> {
        self.0.lock().remove(key_of(&o));
        Ok(())
    }
    fn list(&self) -> Vec<Arc<String>> {
        self.0.lock().values().cloned().collect()
    }
    fn list_keys(&self) -> Vec<ObjectKey> {
        self.0.lock().keys().cloned().collect()
    }
    fn get(&self, o: &String) -> Result<Option<Arc<String>>, StoreError> {
        Ok(self.get_by_key(key_of(o)))
    }
    fn get_by_key(&self, key: &str) -> Option<Arc<String>> {
        self.0.lock().get(key).cloned()
    }
    fn replace(&self, _: Vec<Arc<String>>, _: Version) -> Result<(), StoreError> {
        unreachable!("the consumer applies deltas one by one")
    }
    fn resync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add(u8, u8),
    Update(u8, u8),
    Delete(u8, u8),
    Replace(BTreeMap<u8, u8>),
    Resync,
    Pop,
}

/// A change (no pop).
fn change() -> impl Strategy<Value = Op> {
    let key = 0u8..6;
    let value = 0u8..4;
    prop_oneof![
        3 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Add(k, v)),
        3 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Update(k, v)),
        2 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Delete(k, v)),
        1 => proptest::collection::btree_map(key, value, 0..6).prop_map(Op::Replace),
        1 => Just(Op::Resync),
    ]
}

/// A change or a pop.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![10 => change(), 4 => Just(Op::Pop)]
}

fn object(k: u8, v: u8) -> String {
    format!("k{k}={v}")
}

/// A delta as both sides describe it: `("Added", "k1=2")`, `("Deleted?", "k1=2")` for an
/// unknown final state (with its last known object, or "-").
type D = (&'static str, String);

fn describe(delta: &Delta<String>) -> D {
    let object = delta.object().map_or_else(|| "-".to_string(), |o| o.to_string());
    let kind = match delta {
        Delta::Added(_) => "Added",
        Delta::Updated(_) => "Updated",
        Delta::Replaced(_) => "Replaced",
        Delta::Sync(_) => "Sync",
        Delta::Deleted(d) if d.is_final_state_unknown() => "Deleted?",
        Delta::Deleted(_) => "Deleted",
    };
    (kind, object)
}

#[derive(Default)]
struct Model {
    order: Vec<String>,
    deltas: HashMap<String, Vec<D>>,
    known: BTreeMap<String, String>,
    populated: bool,
    initial: usize,
}

impl Model {
    fn queue(&mut self, key: &str, delta: D) {
        let deltas = self.deltas.entry(key.to_string()).or_default();
        if deltas.is_empty() {
            self.order.push(key.to_string());
        }
        let is_delete = |d: &D| d.0.starts_with("Deleted");
        match deltas.last_mut() {
            Some(last) if is_delete(last) && is_delete(&delta) => {
                if delta.0 == "Deleted" {
                    *last = delta;
                }
            }
            _ => deltas.push(delta),
        }
    }

    fn newest_live(&self, key: &str) -> Option<String> {
        self.deltas.get(key).and_then(|d| d.last()).filter(|d| !d.0.starts_with("Deleted")).map(|d| d.1.clone())
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Add(k, v) => {
                self.populated = true;
                self.queue(&format!("k{k}"), ("Added", object(*k, *v)));
            }
            Op::Update(k, v) => {
                self.populated = true;
                self.queue(&format!("k{k}"), ("Updated", object(*k, *v)));
            }
            Op::Delete(k, v) => {
                self.populated = true;
                let key = format!("k{k}");
                if self.deltas.contains_key(&key) || self.known.contains_key(&key) {
                    self.queue(&key, ("Deleted", object(*k, *v)));
                }
            }
            Op::Replace(items) => {
                let first = !self.populated;
                self.populated = true;
                let new_keys: HashSet<String> = items.keys().map(|k| format!("k{k}")).collect();
                for (k, v) in items {
                    self.queue(&format!("k{k}"), ("Replaced", object(*k, *v)));
                }
                let mut vanished: Vec<String> = self
                    .known
                    .keys()
                    .cloned()
                    .chain(self.deltas.keys().filter(|k| self.newest_live(k).is_some()).cloned())
                    .filter(|k| !new_keys.contains(k))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                vanished.sort();
                for key in vanished {
                    let last = self.known.get(&key).cloned().or_else(|| self.newest_live(&key));
                    self.queue(&key, ("Deleted?", last.unwrap_or_else(|| "-".to_string())));
                }
                if first {
                    self.initial = self.order.len();
                }
            }
            Op::Resync => {
                let keys: Vec<(String, String)> = self.known.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                for (key, value) in keys {
                    if !self.deltas.contains_key(&key) {
                        self.queue(&key, ("Sync", value));
                    }
                }
            }
            Op::Pop => {}
        }
    }

    fn pop(&mut self) -> Option<(String, Vec<D>)> {
        if self.order.is_empty() {
            return None;
        }
        let key = self.order.remove(0);
        let deltas = self.deltas.remove(&key).unwrap_or_default();
        for (kind, object) in &deltas {
            if kind.starts_with("Deleted") {
                self.known.remove(&key);
            } else {
                self.known.insert(key.clone(), object.clone());
            }
        }
        self.initial = self.initial.saturating_sub(1);
        Some((key, deltas))
    }

    fn has_synced(&self) -> bool {
        self.populated && self.initial == 0
    }
}

/// A step of the convergence property: an operation, or a pop whose handler makes changes
/// before and after it applies its entry (as a reflector does while a consumer works).
#[derive(Debug, Clone)]
enum Step {
    Op(Op),
    PopAround(Vec<Op>, Vec<Op>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => op().prop_map(Step::Op),
        1 => (proptest::collection::vec(change(), 0..3), proptest::collection::vec(change(), 0..3))
            .prop_map(|(before, after)| Step::PopAround(before, after)),
    ]
}

/// Applies a change to the queue and to the truth it describes.
fn run_op(fifo: &DeltaFifo<String, Arc<Known>>, truth: &mut BTreeMap<String, String>, op: &Op) {
    match op {
        Op::Add(k, v) => {
            truth.insert(format!("k{k}"), object(*k, *v));
            fifo.add(Arc::new(object(*k, *v))).unwrap();
        }
        Op::Update(k, v) => {
            truth.insert(format!("k{k}"), object(*k, *v));
            fifo.update(Arc::new(object(*k, *v))).unwrap();
        }
        Op::Delete(k, v) => {
            truth.remove(&format!("k{k}"));
            fifo.delete(Arc::new(object(*k, *v))).unwrap();
        }
        Op::Replace(items) => {
            *truth = items.iter().map(|(k, v)| (format!("k{k}"), object(*k, *v))).collect();
            let items = items.iter().map(|(k, v)| Arc::new(object(*k, *v))).collect();
            fifo.replace(items, Version::from("1")).unwrap();
        }
        Op::Resync => fifo.resync().unwrap(),
        Op::Pop => unreachable!("pops are steps"),
    }
}

/// Pops one entry and applies it to the known store, as an informer does: per-key deltas one
/// by one, a `ReplacedAll` by making the store equal to its items. `before` and `after` run
/// inside the handler, around the application.
fn pop_apply_around(fifo: &DeltaFifo<String, Arc<Known>>, before: &mut dyn FnMut(), after: &mut dyn FnMut()) -> bool {
    let known = Arc::clone(fifo.known_objects().expect("known objects"));
    let popped = fifo.try_pop(|popped| {
        before();
        apply(&known, popped);
        after();
    });
    popped.expect("queue open").is_some()
}

fn apply(known: &Known, popped: Popped<String>) {
    match popped {
        Popped::ReplacedAll(r) => {
            let keep: HashSet<&str> = r.items.iter().map(|o| key_of(o)).collect();
            for gone in known.list().into_iter().filter(|o| !keep.contains(key_of(o))) {
                known.delete(gone).unwrap();
            }
            for item in r.items {
                known.update(item).unwrap();
            }
        }
        Popped::Deltas(d) => {
            for delta in d.deltas {
                match delta {
                    Delta::Deleted(del) => {
                        if let Some(o) = del.object().cloned().or_else(|| known.get_by_key(&d.key)) {
                            known.delete(o).unwrap();
                        }
                    }
                    other => known.update(Arc::clone(other.object().unwrap())).unwrap(),
                }
            }
        }
    }
}

/// Pops one entry and applies it to the known store, as an informer does.
fn pop_real(fifo: &DeltaFifo<String, Arc<Known>>) -> Option<(String, Vec<D>)> {
    let known = Arc::clone(fifo.known_objects().expect("known objects"));
    fifo.try_pop(|popped| {
        let Popped::Deltas(d) = popped else { panic!("no atomic replace configured") };
        for delta in &d.deltas {
            match delta {
                Delta::Deleted(del) => {
                    if let Some(o) = del.object().cloned().or_else(|| known.get_by_key(&d.key)) {
                        known.delete(o).unwrap();
                    }
                }
                other => known.update(Arc::clone(other.object().unwrap())).unwrap(),
            }
        }
        (d.key.to_string(), d.deltas.iter().map(describe).collect())
    })
    .expect("queue open")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn delta_fifo_matches_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let known = Arc::new(Known::default());
        let fifo = DeltaFifo::with_known_objects(key_fn(), Arc::clone(&known), DeltaFifoOptions::default());
        let mut model = Model::default();
        for op in &ops {
            match op {
                Op::Add(k, v) => fifo.add(Arc::new(object(*k, *v))).unwrap(),
                Op::Update(k, v) => fifo.update(Arc::new(object(*k, *v))).unwrap(),
                Op::Delete(k, v) => fifo.delete(Arc::new(object(*k, *v))).unwrap(),
                Op::Replace(items) => {
                    let items = items.iter().map(|(k, v)| Arc::new(object(*k, *v))).collect();
                    fifo.replace(items, Version::from("1")).unwrap();
                }
                Op::Resync => fifo.resync().unwrap(),
                Op::Pop => prop_assert_eq!(pop_real(&fifo), model.pop(), "after {:?}", op),
            }
            model.apply(op);
            prop_assert_eq!(fifo.len(), model.order.len());
            prop_assert_eq!(fifo.has_synced(), model.has_synced(), "has_synced after {:?}", op);
        }
        // Drain: same order, same deltas; the consumer's store ends equal to the model's.
        while let Some(expected) = model.pop() {
            prop_assert_eq!(pop_real(&fifo), Some(expected));
        }
        prop_assert_eq!(pop_real(&fifo), None);
        let mut held: Vec<String> = known.list().iter().map(|o| o.to_string()).collect();
        held.sort();
        prop_assert_eq!(held, model.known.values().cloned().collect::<Vec<_>>());
    }

    /// Whatever the interleaving of changes and pops (including changes made while a
    /// handler runs, before and after it applied its entry), and in both replace modes, a
    /// consumer that drains the queue ends with exactly the collection the changes describe.
    #[test]
    fn a_draining_consumer_converges_to_the_described_state(
        steps in proptest::collection::vec(step(), 1..60),
        atomic in any::<bool>(),
    ) {
        let known = Arc::new(Known::default());
        let options = DeltaFifoOptions::default().with_atomic_replace(atomic);
        let fifo = DeltaFifo::with_known_objects(key_fn(), Arc::clone(&known), options);
        let mut truth = BTreeMap::new();
        let mut populated = false;
        for step in &steps {
            match step {
                Step::Op(Op::Pop) => {
                    pop_apply_around(&fifo, &mut || {}, &mut || {});
                }
                Step::Op(op) => {
                    populated |= !matches!(op, Op::Resync);
                    run_op(&fifo, &mut truth, op);
                }
                Step::PopAround(before, after) => {
                    let truth = std::cell::RefCell::new(&mut truth);
                    let popped = pop_apply_around(
                        &fifo,
                        &mut || before.iter().for_each(|op| run_op(&fifo, &mut truth.borrow_mut(), op)),
                        &mut || after.iter().for_each(|op| run_op(&fifo, &mut truth.borrow_mut(), op)),
                    );
                    if popped {
                        populated |= before.iter().chain(after).any(|op| !matches!(op, Op::Resync));
                    }
                }
            }
        }
        while pop_apply_around(&fifo, &mut || {}, &mut || {}) {}
        let mut held: Vec<String> = known.list().iter().map(|o| o.to_string()).collect();
        held.sort();
        prop_assert_eq!(held, truth.values().cloned().collect::<Vec<_>>());
        prop_assert_eq!(fifo.has_synced(), populated);
    }

    #[test]
    fn no_two_consecutive_deletions_ever_come_out(ops in proptest::collection::vec(op(), 1..80)) {
        let fifo = DeltaFifo::new(key_fn());
        for op in &ops {
            match op {
                Op::Add(k, v) => fifo.add(Arc::new(object(*k, *v))).unwrap(),
                Op::Update(k, v) => fifo.update(Arc::new(object(*k, *v))).unwrap(),
                Op::Delete(k, v) => fifo.delete(Arc::new(object(*k, *v))).unwrap(),
                Op::Replace(items) => {
                    let items = items.iter().map(|(k, v)| Arc::new(object(*k, *v))).collect();
                    fifo.replace(items, Version::from("1")).unwrap();
                }
                Op::Resync => fifo.resync().unwrap(),
                Op::Pop => {
                    if let Some(deltas) = fifo.try_pop(|p| p.into_deltas()).unwrap().flatten() {
                        prop_assert!(!deltas.deltas.is_empty());
                        prop_assert!(deltas.deltas.windows(2).all(|w| !(w[0].is_deletion() && w[1].is_deletion())));
                    }
                }
            }
        }
    }
}
