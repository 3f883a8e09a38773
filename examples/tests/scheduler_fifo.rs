//! The scheduler example in one process: every pod bound once, retries, no key shared by two
//! workers. (The example is built as a binary for the multi-process test, so its in-process test
//! lives here and includes the example's code.)

#[allow(dead_code)]
#[path = "../scheduler_fifo.rs"]
mod scheduler;

use scheduler::run;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pod_is_bound_once_with_retries_and_no_key_shared_by_two_workers() {
    let report = run(4, 600, 6, 0.2).await;
    assert_eq!(report.bound, 600, "every pod bound exactly once: {report:?}");
    assert!(report.retries > 0, "some bindings failed and were retried");
    assert_eq!(report.overlapping, 0);
    assert_eq!(report.per_node.values().sum::<usize>(), 600);
    assert!(!report.per_node.contains_key(""), "no pod left unbound");
    let (min, max) = (report.per_node.values().min().unwrap(), report.per_node.values().max().unwrap());
    assert!(max - min <= 1, "least-loaded placement spreads pods evenly: {:?}", report.per_node);
}
