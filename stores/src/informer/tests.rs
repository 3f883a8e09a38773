//! One test per sentence of the [`Informer`] contract, against the in-memory source.

use std::sync::Arc;
use std::time::Duration;

use informer_core::BackoffConfig;
use informer_memory::{MemoryObject, MemorySource};

use super::*;
use crate::{Cache, Deletion};

type Obj = MemoryObject<u32>;

fn config() -> InformerConfig {
    let backoff = BackoffConfig::default().with_initial(Duration::from_millis(1)).with_max(Duration::from_millis(10));
    InformerConfig::default().with_reflector(ReflectorConfig::default().with_backoff(backoff))
}

struct Running {
    source: MemorySource<u32>,
    handle: InformerHandle<Obj, Cache<Obj>>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), InformerError>>,
}

impl Running {
    fn start(
        source: &MemorySource<u32>,
        config: InformerConfig,
        subscribe_first: bool,
    ) -> (Self, Option<Subscription<Obj>>) {
        let informer = Informer::with_cache(source.clone(), KeyFn::keyed(), config);
        let handle = informer.handle();
        let early = subscribe_first.then(|| handle.subscribe());
        let cancel = CancellationToken::new();
        let task = tokio::spawn(informer.run(cancel.clone()));
        (Self { source: source.clone(), handle, cancel, task }, early)
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// `"+a=1"` (initial add), `"+a=1"`, `"~a=1>2"`, `"~a=1>1 resync"`, `"-a"`, `"-?a"`.
fn describe(event: &Event<Obj>) -> String {
    match event {
        Event::Added { object, initial } => {
            format!("{}{}={}", if *initial { "+!" } else { "+" }, object.object_key(), object.value())
        }
        Event::Updated { old, new, resync } => {
            format!("~{}={}>{}{}", new.object_key(), old.value(), new.value(), if *resync { " resync" } else { "" })
        }
        Event::Deleted(Deletion::Known(o)) => format!("-{}", o.object_key()),
        Event::Deleted(Deletion::FinalStateUnknown { key, .. }) => format!("-?{key}"),
    }
}

async fn next(sub: &mut Subscription<Obj>) -> String {
    let event = tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect("an event in time");
    describe(&event.expect("stream open"))
}

async fn next_sorted(sub: &mut Subscription<Obj>, n: usize) -> Vec<String> {
    let mut events = Vec::new();
    for _ in 0..n {
        events.push(next(sub).await);
    }
    events.sort();
    events
}

#[tokio::test]
async fn store_mirrors_the_source_and_initial_objects_arrive_as_initial_adds() {
    let source = MemorySource::new();
    source.put("a", 1);
    source.put("b", 2);
    let (running, sub) = Running::start(&source, config(), true);
    let mut sub = sub.unwrap();
    assert!(running.handle.wait_synced().await);
    assert_eq!(next_sorted(&mut sub, 2).await, vec!["+!a=1", "+!b=2"]);
    assert_eq!(running.handle.store().list().len(), 2);
    running.stop().await;
}

#[tokio::test]
async fn changes_reach_subscribers_as_add_update_delete_after_the_store() {
    let source = MemorySource::new();
    let (running, _) = Running::start(&source, config(), false);
    assert!(running.handle.wait_synced().await);
    let mut first = running.handle.subscribe();
    let mut second = running.handle.subscribe();
    running.source.put("a", 1);
    running.source.put("a", 2);
    running.source.delete("a");
    for sub in [&mut first, &mut second] {
        assert_eq!(next(sub).await, "+a=1");
        assert_eq!(next(sub).await, "~a=1>2");
        assert_eq!(next(sub).await, "-a");
    }
    assert!(running.handle.store().get_by_key("a").is_none());
    running.stop().await;
}

#[tokio::test]
async fn a_late_subscriber_first_sees_the_current_state_as_adds() {
    let source = MemorySource::new();
    source.put("a", 1);
    let (running, _) = Running::start(&source, config(), false);
    assert!(running.handle.wait_synced().await);
    running.source.put("b", 1);
    running.source.put("a", 2);
    let mut early = running.handle.subscribe();
    let _ = next_sorted(&mut early, 1).await; // a (and maybe b)
    tokio::time::timeout(Duration::from_secs(5), async {
        while running.handle.store().get_by_key("a").map(|a| **a.value()) != Some(2) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let mut late = running.handle.subscribe();
    assert_eq!(next_sorted(&mut late, 2).await, vec!["+!a=2", "+!b=1"]);
    running.source.put("c", 1);
    assert_eq!(next(&mut late).await, "+c=1");
    running.stop().await;
}

#[tokio::test]
async fn resync_arrives_as_updates() {
    let source = MemorySource::new();
    source.put("a", 1);
    let reflector = config().reflector.with_resync_period(Some(Duration::from_millis(50)));
    let (running, sub) = Running::start(&source, config().with_reflector(reflector), true);
    let mut sub = sub.unwrap();
    assert_eq!(next(&mut sub).await, "+!a=1");
    assert_eq!(next(&mut sub).await, "~a=1>1 resync");
    running.stop().await;
}

#[tokio::test]
async fn a_relist_that_misses_an_object_sends_a_final_state_unknown_delete() {
    let source = MemorySource::new();
    source.put("a", 1);
    source.put("b", 1);
    let (running, sub) = Running::start(&source, config(), true);
    let mut sub = sub.unwrap();
    assert_eq!(next_sorted(&mut sub, 2).await.len(), 2);
    // Break the watch and keep it down while "a" vanishes and the history is compacted.
    source.faults().fail_next_calls(3);
    source.faults().break_watches();
    source.delete("a");
    source.faults().expire_history();
    // The relist's Replaced delta for "b" is queued before the deletion it detects.
    assert_eq!(next_sorted(&mut sub, 2).await, vec!["-?a", "~b=1>1"]);
    assert!(running.handle.store().get_by_key("a").is_none());
    assert!(running.handle.reflector().metrics().relists >= 1);
    running.stop().await;
}

#[tokio::test]
async fn has_synced_only_after_the_initial_list_was_delivered() {
    let source = MemorySource::new();
    for i in 0..50 {
        source.put(format!("k{i}"), i);
    }
    let (running, sub) = Running::start(&source, config(), true);
    let mut sub = sub.unwrap();
    assert!(!running.handle.has_synced());
    assert!(running.handle.wait_synced().await);
    assert_eq!(sub.buffered(), 50, "every initial add was dispatched before has_synced");
    assert_eq!(next_sorted(&mut sub, 50).await.len(), 50);
    running.stop().await;
}

#[tokio::test]
async fn a_subscriber_over_its_buffer_limit_is_cut_off_without_blocking_others() {
    let source = MemorySource::new();
    let (running, _) = Running::start(&source, config().with_subscriber_buffer(Some(3)), false);
    assert!(running.handle.wait_synced().await);
    let mut slow = running.handle.subscribe();
    let mut fast = running.handle.subscribe();
    for i in 0..10 {
        running.source.put(format!("k{i}"), i);
        assert_eq!(next(&mut fast).await, format!("+k{i}={i}"));
    }
    let mut read = 0;
    while slow.recv().await.is_some() {
        read += 1;
    }
    assert_eq!(read, 3);
    assert!(slow.is_lagged());
    assert!(!fast.is_lagged());
    assert_eq!(running.handle.metrics().lagged_subscribers, 1);
    running.stop().await;
}

#[tokio::test]
async fn an_unread_subscriber_buffers_without_holding_up_the_informer() {
    let source = MemorySource::new();
    let (running, _) = Running::start(&source, config(), false);
    assert!(running.handle.wait_synced().await);
    let idle = running.handle.subscribe();
    let mut reader = running.handle.subscribe();
    for i in 0..500 {
        running.source.put(format!("k{i}"), i);
    }
    for _ in 0..500 {
        next(&mut reader).await;
    }
    assert_eq!(idle.buffered(), 500, "the idle subscriber holds every event, unread");
    assert!(!idle.is_lagged());
    assert_eq!(running.handle.store().list().len(), 500);
    running.stop().await;
}

#[tokio::test]
async fn handler_task_calls_the_callbacks() {
    #[derive(Default)]
    struct Counts(u32, u32, u32);
    impl EventHandler<Obj> for Counts {
        fn on_add(&mut self, _: &Arc<Obj>, _: bool) {
            self.0 += 1;
        }
        fn on_update(&mut self, _: &Arc<Obj>, _: &Arc<Obj>) {
            self.1 += 1;
        }
        fn on_delete(&mut self, _: &Deletion<Obj>) {
            self.2 += 1;
        }
    }
    let source = MemorySource::new();
    source.put("a", 1);
    let (running, _) = Running::start(&source, config(), false);
    let task = tokio::spawn(running.handle.handler_task(Counts::default()));
    let mut sub = running.handle.subscribe();
    assert!(running.handle.wait_synced().await);
    running.source.put("a", 2);
    running.source.delete("a");
    let _ = next_sorted(&mut sub, 3).await;
    running.stop().await;
    let counts = task.await.unwrap();
    assert_eq!((counts.0, counts.1, counts.2), (1, 1, 1));
}

#[tokio::test]
async fn atomic_replace_mode_delivers_the_same_events() {
    let source = MemorySource::new();
    source.put("a", 1);
    source.put("b", 1);
    let config = config().with_fifo(DeltaFifoOptions::default().with_atomic_replace(true));
    let (running, sub) = Running::start(&source, config, true);
    let mut sub = sub.unwrap();
    assert!(running.handle.wait_synced().await);
    assert_eq!(next_sorted(&mut sub, 2).await, vec!["+!a=1", "+!b=1"]);
    source.faults().fail_next_calls(3);
    source.faults().break_watches();
    source.delete("a");
    source.put("c", 1);
    source.faults().expire_history();
    assert_eq!(next_sorted(&mut sub, 3).await, vec!["+c=1", "-?a", "~b=1>1"]);
    running.stop().await;
}

#[tokio::test]
async fn run_ends_every_subscription_when_cancelled() {
    let source = MemorySource::new();
    let (running, sub) = Running::start(&source, config(), true);
    let mut sub = sub.unwrap();
    assert!(running.handle.wait_synced().await);
    let handle = running.handle.clone();
    running.stop().await;
    assert!(sub.recv().await.is_none());
    assert!(handle.subscribe().recv().await.is_none(), "subscribing to a stopped informer ends at once");
}

#[tokio::test]
async fn run_reports_a_reflector_that_gives_up() {
    let source = MemorySource::new();
    source.faults().fail_next_calls(100);
    let backoff = BackoffConfig::default()
        .with_initial(Duration::from_millis(1))
        .with_max(Duration::from_millis(2))
        .with_max_retries(Some(2));
    let config = config().with_reflector(ReflectorConfig::default().with_backoff(backoff));
    let (running, _) = Running::start(&source, config, false);
    let err = tokio::time::timeout(Duration::from_secs(5), running.task).await.unwrap().unwrap().unwrap_err();
    assert!(err.to_string().contains("gave up"), "{err}");
    assert!(!running.handle.wait_synced().await);
}

mod delivery;
mod overflow;
